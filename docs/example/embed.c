/*
 * embed.c — an example of the ragged C API (include/ragged.h only): load a
 * plan of a BERT-style encoder, feed a batch of token ids, run it on the CPU
 * and print the shape and first values of every output.
 *
 *   ragged compile model.onnx -o model.plan
 *   ragged_example model.plan 2 16          # batch 2, 16 tokens each
 *
 * The plan's inputs are recognised by name: input_ids (made-up token ids in
 * [1, 30), valid for any vocabulary of 30 or more), attention_mask (all
 * ones: no padding) and token_type_ids (all zeros). All are int64
 * [batch, length].
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ragged.h"

static int fail(const rg_error *err) {
    fprintf(stderr, "embed: %s\n", err->message);
    return 1;
}

/* Fills one int64 input by its name; returns 0 for an input it cannot feed. */
static int fill_input(const char *name, int64_t *data, size_t count) {
    for (size_t i = 0; i < count; i++) {
        if (strcmp(name, "input_ids") == 0) data[i] = (int64_t)(1 + (i * 7) % 29);
        else if (strcmp(name, "attention_mask") == 0) data[i] = 1;
        else if (strcmp(name, "token_type_ids") == 0) data[i] = 0;
        else return 0;
    }
    return 1;
}

static void print_output(const rg_tensor_view *v) {
    printf("%s: %s [", v->name, rg_dtype_name(v->dtype));
    size_t count = 1;
    for (int d = 0; d < v->rank; d++) {
        printf("%s%lld", d ? ", " : "", (long long)v->dims[d]);
        count *= (size_t)v->dims[d];
    }
    printf("]");
    if (v->dtype == RG_DTYPE_F32) {
        const float *x = v->data;
        for (size_t i = 0; i < count && i < 5; i++) printf(" %.5f", x[i]);
    }
    printf("\n");
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s PLAN BATCH LENGTH\n", argv[0]);
        return 2;
    }
    long batch = strtol(argv[2], NULL, 10), length = strtol(argv[3], NULL, 10);
    if (batch < 1 || batch > 4096 || length < 1 || length > 65536) {
        fprintf(stderr, "embed: BATCH must be in 1..4096 and LENGTH in 1..65536\n");
        return 2;
    }

    rg_error err = {0};
    rg_plan *plan = NULL;
    rg_session *session = NULL;
    int64_t *inputs[8] = {NULL};
    int status = 1;
    size_t ninputs = 0;

    if (rg_plan_load(argv[1], &plan, &err) != RG_OK) return fail(&err);
    if (rg_session_new(plan, NULL, &session, &err) != RG_OK) {
        fail(&err);
        goto done;
    }

    /* Bind every input; the session checks dtypes and shapes against the plan. */
    int64_t dims[2] = {batch, length};
    size_t count = (size_t)batch * (size_t)length;
    ninputs = rg_plan_input_count(plan);
    if (ninputs > sizeof inputs / sizeof inputs[0]) {
        fprintf(stderr, "embed: the plan has %zu inputs; this example feeds at most 8\n", ninputs);
        goto done;
    }
    for (size_t i = 0; i < ninputs; i++) {
        rg_io_info info;
        if (rg_plan_input_info(plan, i, &info, &err) != RG_OK) {
            fail(&err);
            goto done;
        }
        inputs[i] = malloc(count * sizeof(int64_t));
        if (!inputs[i]) {
            fprintf(stderr, "embed: out of memory\n");
            goto done;
        }
        if (!fill_input(info.name, inputs[i], count)) {
            fprintf(stderr, "embed: the plan has an input '%s' this example does not know how to fill\n", info.name);
            goto done;
        }
        if (rg_session_bind_input(session, info.name, RG_DTYPE_I64, 2, dims, inputs[i], &err) != RG_OK) {
            fail(&err);
            goto done;
        }
    }

    if (rg_session_run(session, &err) != RG_OK) {
        fail(&err);
        goto done;
    }
    for (size_t i = 0; i < rg_plan_output_count(plan); i++) {
        rg_io_info info;
        rg_tensor_view view;
        if (rg_plan_output_info(plan, i, &info, &err) != RG_OK ||
            rg_session_output(session, info.name, &view, &err) != RG_OK) {
            fail(&err);
            goto done;
        }
        print_output(&view);
    }
    status = 0;
done:
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) free(inputs[i]);
    rg_session_free(session);
    rg_plan_free(plan);
    return status;
}
