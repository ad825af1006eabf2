/*
 * emit.c — the text emitter (see emit.h).
 *
 * Each call formats into a scratch buffer first and then copies it into the
 * text, inserting indentation after every newline; that keeps indentation in
 * one place instead of in every format string.
 */
#include "emit.h"

#include <stdio.h>
#include <string.h>

void rg_cg_emit_init(rg_cg_emit *emit, const rg_allocator *alloc) {
    memset(emit, 0, sizeof *emit);
    emit->alloc = alloc ? alloc : rg_allocator_default();
    emit->status = RG_OK;
}

void rg_cg_emit_deinit(rg_cg_emit *emit) {
    if (!emit) return;
    rg_mem_free(emit->alloc, emit->text, emit->capacity);
    rg_mem_free(emit->alloc, emit->scratch, emit->scratch_capacity);
    emit->text = emit->scratch = NULL;
    emit->length = emit->capacity = emit->scratch_capacity = 0;
}

/* Grows *buf so that it holds at least `need` bytes, doubling to keep appends
 * amortised O(1). Records RG_ERR_NOMEM on failure. */
static bool reserve(rg_cg_emit *emit, char **buf, size_t *capacity, size_t need) {
    if (emit->status != RG_OK) return false;
    if (need <= *capacity) return true;
    size_t grown = *capacity < 256 ? 256 : *capacity;
    while (grown < need) {
        if (!rg_size_mul(grown, 2, &grown)) {
            emit->status = RG_ERR_NOMEM;
            return false;
        }
    }
    char *p = rg_mem_realloc(emit->alloc, *buf, *capacity, grown);
    if (!p) {
        emit->status = RG_ERR_NOMEM;
        return false;
    }
    *buf = p;
    *capacity = grown;
    return true;
}

static bool append_raw(rg_cg_emit *emit, const char *s, size_t n) {
    size_t need;
    if (!rg_size_add(emit->length, n, &need) || !rg_size_add(need, 1, &need)) {
        emit->status = RG_ERR_NOMEM;
        return false;
    }
    if (!reserve(emit, &emit->text, &emit->capacity, need)) return false;
    memcpy(emit->text + emit->length, s, n);
    emit->length += n;
    emit->text[emit->length] = '\0';
    return true;
}

static bool append_indent(rg_cg_emit *emit) {
    static const char spaces[] = "                                ";
    size_t n = (size_t)emit->indent * RG_CG_EMIT_INDENT_WIDTH;
    while (n > 0) {
        size_t chunk = n < sizeof spaces - 1 ? n : sizeof spaces - 1;
        if (!append_raw(emit, spaces, chunk)) return false;
        n -= chunk;
    }
    return true;
}

/* Copies `s` line by line, indenting each line that has content. */
static void append_indented(rg_cg_emit *emit, const char *s, size_t n) {
    size_t i = 0;
    while (i < n && emit->status == RG_OK) {
        const char *nl = memchr(s + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - s) + 1 : n;
        bool has_content = s[i] != '\n';
        if (!emit->line_started && has_content && !append_indent(emit)) return;
        if (!append_raw(emit, s + i, end - i)) return;
        emit->line_started = s[end - 1] != '\n';
        i = end;
    }
}

void rg_cg_emitv(rg_cg_emit *emit, const char *fmt, va_list ap) {
    if (emit->status != RG_OK) return;
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(emit->scratch, emit->scratch_capacity, fmt, copy);
    va_end(copy);
    RG_ASSERT(n >= 0); /* only an invalid format string fails, and formats are ours */
    if ((size_t)n >= emit->scratch_capacity) {
        if (!reserve(emit, &emit->scratch, &emit->scratch_capacity, (size_t)n + 1)) return;
        vsnprintf(emit->scratch, emit->scratch_capacity, fmt, ap);
    }
    append_indented(emit, emit->scratch, (size_t)n);
}

void rg_cg_emitf(rg_cg_emit *emit, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    rg_cg_emitv(emit, fmt, ap);
    va_end(ap);
}

void rg_cg_emit_line(rg_cg_emit *emit, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    rg_cg_emitv(emit, fmt, ap);
    va_end(ap);
    append_indented(emit, "\n", 1);
}

void rg_cg_emit_open(rg_cg_emit *emit, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    rg_cg_emitv(emit, fmt, ap);
    va_end(ap);
    append_indented(emit, " {\n", 3);
    emit->indent++;
}

void rg_cg_emit_close(rg_cg_emit *emit, const char *suffix) {
    rg_cg_emit_dedent(emit);
    rg_cg_emitf(emit, "}%s\n", suffix ? suffix : "");
}

void rg_cg_emit_indent(rg_cg_emit *emit) { emit->indent++; }

void rg_cg_emit_dedent(rg_cg_emit *emit) {
    RG_ASSERT(emit->indent > 0); /* an unbalanced close is a codegen bug */
    emit->indent--;
}

const char *rg_cg_emit_text(const rg_cg_emit *emit) { return emit->text ? emit->text : ""; }

size_t rg_cg_emit_length(const rg_cg_emit *emit) { return emit->text ? emit->length : 0; }

rg_status rg_cg_emit_status(const rg_cg_emit *emit, rg_error *err) {
    if (emit->status == RG_OK) return RG_OK;
    return rg_error_set(err, emit->status, "out of memory while emitting generated source (%zu bytes written)",
                        emit->length);
}
