/* The session API of include/ragged.h on a small plan built here: input and
 * output descriptions, every binding error, runs, and outputs. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "codegen/plan_write.h"
#include "ir/graph.h"
#include "ragged.h"

/* ids:int64[batch, 2] -> Gather(table[10, 4]) -> emb:float32[batch, 2, 4]
 * x:float32[batch, 3] -> Identity -> y:float32[batch, 3] */
static rg_plan *make_plan(void) {
    rg_error err = {0};
    rg_graph *g;
    cr_assert_eq(rg_graph_new(NULL, &g, &err), RG_OK);
    rg_dim batch = rg_dim_symbol(rg_graph_symbol(g, "batch"));
    rg_dim ids_dims[2] = {batch, rg_dim_const(2)};
    rg_dim x_dims[2] = {batch, rg_dim_const(3)};
    rg_value *ids, *x, *table, *emb, *y;
    cr_assert_eq(rg_graph_add_value(g, "ids", RG_DTYPE_I64, 2, ids_dims, &ids, &err), RG_OK);
    cr_assert_eq(rg_graph_add_value(g, "x", RG_DTYPE_F32, 2, x_dims, &x, &err), RG_OK);
    cr_assert_eq(rg_graph_add_value(g, "table", RG_DTYPE_F32, -1, NULL, &table, &err), RG_OK);
    cr_assert_eq(rg_graph_add_value(g, "emb", RG_DTYPE_UNDEFINED, -1, NULL, &emb, &err), RG_OK);
    cr_assert_eq(rg_graph_add_value(g, "y", RG_DTYPE_UNDEFINED, -1, NULL, &y, &err), RG_OK);
    rg_tensor *t;
    int64_t table_dims[2] = {10, 4};
    cr_assert_eq(rg_graph_new_tensor(g, RG_DTYPE_F32, 2, table_dims, &t, &err), RG_OK);
    for (int i = 0; i < 40; i++) ((float *)t->data)[i] = (float)i;
    cr_assert_eq(rg_value_set_constant(g, table, t, &err), RG_OK);
    cr_assert_eq(rg_graph_add_input(g, ids, &err), RG_OK);
    cr_assert_eq(rg_graph_add_input(g, x, &err), RG_OK);
    rg_value *gather_in[2] = {table, ids};
    cr_assert_eq(rg_graph_add_node(g, RG_OP_GATHER, "embed", 17, 2, gather_in, 1, &emb, NULL, &err), RG_OK);
    cr_assert_eq(rg_graph_add_node(g, RG_OP_IDENTITY, "copy", 17, 1, &x, 1, &y, NULL, &err), RG_OK);
    cr_assert_eq(rg_graph_add_output(g, emb, &err), RG_OK);
    cr_assert_eq(rg_graph_add_output(g, y, &err), RG_OK);
    cr_assert_eq(rg_infer_shapes(g, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_verify(g, &err), RG_OK, "%s", err.message);

    char path[256];
    snprintf(path, sizeof path, "/tmp/rg_test_session_%ld.plan", (long)getpid());
    cr_assert_eq(rg_cg_write_plan(g, NULL, path, &err), RG_OK, "%s", err.message);
    rg_graph_free(g);
    rg_plan *plan;
    cr_assert_eq(rg_plan_load(path, &plan, &err), RG_OK, "%s", err.message);
    remove(path);
    return plan;
}

Test(session, describes_inputs_and_outputs) {
    rg_plan *plan = make_plan();
    rg_error err = {0};
    cr_assert_eq(rg_plan_input_count(plan), 2);
    cr_assert_eq(rg_plan_output_count(plan), 2);
    rg_io_info info;
    cr_assert_eq(rg_plan_input_info(plan, 0, &info, &err), RG_OK);
    cr_assert_str_eq(info.name, "ids");
    cr_assert_eq(info.dtype, RG_DTYPE_I64);
    cr_assert_eq(info.rank, 2);
    cr_assert_eq(info.dims[0], -1);
    cr_assert_str_eq(info.dim_names[0], "batch");
    cr_assert_eq(info.dims[1], 2);
    cr_assert_null(info.dim_names[1]);
    cr_assert_eq(rg_plan_output_info(plan, 0, &info, &err), RG_OK);
    cr_assert_str_eq(info.name, "emb");
    cr_assert_eq(info.dtype, RG_DTYPE_F32);
    cr_assert_eq(info.rank, 3);
    cr_assert_eq(info.dims[0], -1);
    cr_assert_str_eq(info.dim_names[0], "batch");
    cr_assert_eq(info.dims[2], 4);
    cr_assert_eq(rg_plan_input_info(plan, 2, &info, &err), RG_ERR_NOT_FOUND);
    cr_assert_eq(rg_plan_output_info(plan, 99, &info, &err), RG_ERR_NOT_FOUND);
    cr_assert_eq(rg_plan_input_count(NULL), 0);
    rg_plan_free(plan);
}

Test(session, refuses_cuda_and_bad_options) {
    rg_plan *plan = make_plan();
    rg_error err = {0};
    rg_session *s = (rg_session *)0x1;
    rg_session_options cuda = {RG_DEVICE_CUDA, 0};
    /* a CPU plan: no GPU here, or one for which the plan has no kernels */
    rg_status st = rg_session_new(plan, &cuda, &s, &err);
    cr_assert(st == RG_ERR_DEVICE || st == RG_ERR_UNSUPPORTED, "status %d: %s", st, err.message);
    cr_assert(strstr(err.message, "GPU"), "%s", err.message);
    rg_session_options bad = {(rg_device)42, 0};
    cr_assert_eq(rg_session_new(plan, &bad, &s, &err), RG_ERR_INVALID_ARGUMENT);
    rg_session_options threads = {RG_DEVICE_CPU, -1};
    cr_assert_eq(rg_session_new(plan, &threads, &s, &err), RG_ERR_INVALID_ARGUMENT);
    cr_assert_eq(rg_session_new(NULL, NULL, &s, &err), RG_ERR_INVALID_ARGUMENT);
    cr_assert_eq(s, (rg_session *)0x1, "out untouched on failure");
    rg_session_free(NULL);
    rg_plan_free(plan);
}

/* The persistent kernel's mode: a CPU session takes auto and off (nothing
 * to do) and refuses on, naming the reason; a mode out of range or no
 * session is an argument error. */
Test(session, persistent_mode) {
    rg_plan *plan = make_plan();
    rg_error err = {0};
    rg_session *s = NULL;
    cr_assert_eq(rg_session_new(plan, NULL, &s, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_session_set_persistent(s, RG_PERSISTENT_AUTO, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_session_set_persistent(s, RG_PERSISTENT_OFF, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_session_set_persistent(s, RG_PERSISTENT_ON, &err), RG_ERR_UNSUPPORTED);
    cr_assert(strstr(err.message, "CPU"), "%s", err.message);
    cr_assert_eq(rg_session_set_persistent(s, (rg_persistent_mode)7, &err), RG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "7"), "%s", err.message);
    cr_assert_eq(rg_session_set_persistent(NULL, RG_PERSISTENT_AUTO, &err), RG_ERR_INVALID_ARGUMENT);
    rg_session_free(s);
    rg_plan_free(plan);
}

Test(session, binding_errors_name_the_input) {
    rg_plan *plan = make_plan();
    rg_error err = {0};
    rg_session *s;
    cr_assert_eq(rg_session_new(plan, NULL, &s, &err), RG_OK, "%s", err.message);
    int64_t ids[4] = {1, 2, 3, 4};
    int64_t dims[2] = {2, 2};

    cr_assert_eq(rg_session_bind_input(s, "nope", RG_DTYPE_I64, 2, dims, ids, &err), RG_ERR_NOT_FOUND);
    cr_assert(strstr(err.message, "'nope'") && strstr(err.message, "'ids'") && strstr(err.message, "'x'"), "%s",
              err.message);

    cr_assert_eq(rg_session_bind_input(s, "ids", RG_DTYPE_F32, 2, dims, ids, &err), RG_ERR_DTYPE);
    cr_assert_str_eq(err.message, "input 'ids' expects int64, got float32");

    cr_assert_eq(rg_session_bind_input(s, "ids", RG_DTYPE_I64, 1, dims, ids, &err), RG_ERR_SHAPE);
    cr_assert(strstr(err.message, "'ids'") && strstr(err.message, "rank 2"), "%s", err.message);

    int64_t wrong[2] = {2, 3};
    cr_assert_eq(rg_session_bind_input(s, "ids", RG_DTYPE_I64, 2, wrong, ids, &err), RG_ERR_SHAPE);
    cr_assert(strstr(err.message, "dim 1 must be 2"), "%s", err.message);

    int64_t negative[2] = {-1, 2};
    cr_assert_eq(rg_session_bind_input(s, "ids", RG_DTYPE_I64, 2, negative, ids, &err), RG_ERR_SHAPE);

    cr_assert_eq(rg_session_bind_input(s, "ids", RG_DTYPE_I64, 2, dims, NULL, &err), RG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "'ids'"), "%s", err.message);

    int64_t empty[2] = {0, 2};
    cr_assert_eq(rg_session_bind_input(s, "ids", RG_DTYPE_I64, 2, empty, NULL, &err), RG_OK, "no data for no bytes");

    cr_assert_eq(rg_session_bind_input(s, NULL, RG_DTYPE_I64, 2, dims, ids, &err), RG_ERR_INVALID_ARGUMENT);
    rg_session_free(s);
    rg_plan_free(plan);
}

Test(session, run_needs_every_input_and_outputs_need_a_run) {
    rg_plan *plan = make_plan();
    rg_error err = {0};
    rg_session *s;
    cr_assert_eq(rg_session_new(plan, NULL, &s, &err), RG_OK, "%s", err.message);
    int64_t ids[4] = {1, 2, 3, 9};
    int64_t ids_dims[2] = {2, 2};
    rg_tensor_view view;
    cr_assert_eq(rg_session_output(s, "emb", &view, &err), RG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "'emb'") && strstr(err.message, "not run"), "%s", err.message);
    cr_assert_eq(rg_session_output(s, "nope", &view, &err), RG_ERR_NOT_FOUND);
    cr_assert(strstr(err.message, "'nope'") && strstr(err.message, "'emb'"), "%s", err.message);

    cr_assert_eq(rg_session_bind_input(s, "ids", RG_DTYPE_I64, 2, ids_dims, ids, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_session_run(s, &err), RG_ERR_INVALID_ARGUMENT);
    cr_assert_str_eq(err.message, "input 'x' is not bound");
    rg_session_free(s);
    rg_plan_free(plan);
}

Test(session, runs_and_reads_outputs) {
    rg_plan *plan = make_plan();
    rg_error err = {0};
    rg_session *s;
    cr_assert_eq(rg_session_new(plan, NULL, &s, &err), RG_OK, "%s", err.message);
    int64_t ids[4] = {1, 2, 3, 9};
    int64_t ids_dims[2] = {2, 2};
    float x[6] = {1, 2, 3, 4, 5, 6};
    int64_t x_dims[2] = {2, 3};
    cr_assert_eq(rg_session_bind_input(s, "ids", RG_DTYPE_I64, 2, ids_dims, ids, &err), RG_OK, "%s", err.message);
    cr_assert_eq(rg_session_bind_input(s, "x", RG_DTYPE_F32, 2, x_dims, x, &err), RG_OK, "%s", err.message);
    for (int round = 0; round < 2; round++) {
        cr_assert_eq(rg_session_run(s, &err), RG_OK, "%s", err.message);
        rg_tensor_view emb, y;
        cr_assert_eq(rg_session_output(s, "emb", &emb, &err), RG_OK, "%s", err.message);
        cr_assert_str_eq(emb.name, "emb");
        cr_assert_eq(emb.dtype, RG_DTYPE_F32);
        cr_assert_eq(emb.rank, 3);
        cr_assert_eq(emb.dims[0], 2);
        cr_assert_eq(emb.dims[1], 2);
        cr_assert_eq(emb.dims[2], 4);
        cr_assert_eq(emb.nbytes, 64);
        const float *e = emb.data;
        cr_assert_float_eq(e[0], 4.0f, 0);   /* table row 1 */
        cr_assert_float_eq(e[15], 39.0f, 0); /* table row 9, last column */
        cr_assert_eq(rg_session_output(s, "y", &y, &err), RG_OK, "%s", err.message);
        cr_assert_eq(memcmp(y.data, x, sizeof x), 0);
    }

    /* batch 3 for x against batch 2 for ids: the executor's symbol check */
    float x3[9] = {0};
    int64_t x3_dims[2] = {3, 3};
    cr_assert_eq(rg_session_bind_input(s, "x", RG_DTYPE_F32, 2, x3_dims, x3, &err), RG_OK, "%s", err.message);
    cr_assert_neq(rg_session_run(s, &err), RG_OK);
    rg_tensor_view view;
    cr_assert_eq(rg_session_output(s, "emb", &view, &err), RG_ERR_INVALID_ARGUMENT, "no outputs after a failed run");
    rg_session_free(s);
    rg_plan_free(plan);
}
