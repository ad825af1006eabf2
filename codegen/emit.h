/*
 * emit.h — the one text emitter that generated CUDA source goes through.
 *
 * Codegen writes kernels with printf-style calls into a growable buffer that
 * indents every line it starts, so generated code reads like hand-written
 * code and golden tests can pin it. Errors are sticky (as in SQLite): once an
 * allocation fails, later calls do nothing and rg_cg_emit_status reports the
 * failure once, so emitting code needs no status check after every line.
 */
#ifndef RG_CG_EMIT_H
#define RG_CG_EMIT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "ir/arena.h"
#include "ir/error.h"

#define RG_CG_EMIT_INDENT_WIDTH 4

typedef struct rg_cg_emit {
    const rg_allocator *alloc;
    char *text;        /* NUL-terminated when capacity > 0 */
    size_t length;     /* bytes of text, without the NUL */
    size_t capacity;   /* bytes allocated for text */
    char *scratch;     /* one formatted piece before it is indented */
    size_t scratch_capacity;
    int indent;        /* current depth, in levels */
    bool line_started; /* the last byte written was not a newline */
    rg_status status;  /* RG_OK, or RG_ERR_NOMEM once an allocation failed */
} rg_cg_emit;

/* Caller-owned storage; `alloc` NULL means rg_allocator_default(). */
void rg_cg_emit_init(rg_cg_emit *emit, const rg_allocator *alloc);
void rg_cg_emit_deinit(rg_cg_emit *emit);

/* Appends formatted text. Every line it starts gets the current indentation;
 * empty lines stay empty. Newlines are written only where `fmt` has them. */
void rg_cg_emitf(rg_cg_emit *emit, const char *fmt, ...) RG_PRINTF(2, 3);
void rg_cg_emitv(rg_cg_emit *emit, const char *fmt, va_list ap);

/* One line: indentation, the formatted text, a newline. */
void rg_cg_emit_line(rg_cg_emit *emit, const char *fmt, ...) RG_PRINTF(2, 3);

/* A line ending in " {" followed by one more level of indentation, and the
 * matching "}" one level less (close may append a suffix such as ";"). */
void rg_cg_emit_open(rg_cg_emit *emit, const char *fmt, ...) RG_PRINTF(2, 3);
void rg_cg_emit_close(rg_cg_emit *emit, const char *suffix);

void rg_cg_emit_indent(rg_cg_emit *emit);
void rg_cg_emit_dedent(rg_cg_emit *emit);

/* The text so far: never NULL ("" when nothing was written or after a failure
 * before the first byte). */
const char *rg_cg_emit_text(const rg_cg_emit *emit);
size_t rg_cg_emit_length(const rg_cg_emit *emit);

/* RG_OK, or the sticky failure with a message in `err`. */
rg_status rg_cg_emit_status(const rg_cg_emit *emit, rg_error *err);

#endif
