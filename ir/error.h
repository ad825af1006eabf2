/*
 * error.h — how ragged reports failures internally.
 *
 * Two tiers (DESIGN.md "Errors"): RG_ASSERT for our own broken invariants,
 * which aborts with expression, file and line; rg_error_set for everything
 * caused by input, which fills the caller's rg_error and returns the status so
 * that `return rg_error_set(err, RG_ERR_SHAPE, "...")` reads as one step.
 */
#ifndef RG_IR_ERROR_H
#define RG_IR_ERROR_H

#include "ragged.h"

#if defined(__GNUC__)
#define RG_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#else
#define RG_PRINTF(fmt_index, first_arg)
#endif

/* Records status and a formatted one-line message in `err` (may be NULL) and
 * returns `status`. A message longer than the buffer is cut with "...". */
rg_status rg_error_set(rg_error *err, rg_status status, const char *fmt, ...) RG_PRINTF(3, 4);

/* Prepends "context: " to the message already in `err`; returns err->status
 * (or `status` when err is NULL). Used to add the node or file name as an
 * error travels up. */
rg_status rg_error_prefix(rg_error *err, rg_status status, const char *fmt, ...) RG_PRINTF(3, 4);

void rg_error_clear(rg_error *err);

_Noreturn void rg_assert_fail(const char *expr, const char *file, int line);

#define RG_ASSERT(expr) ((expr) ? (void)0 : rg_assert_fail(#expr, __FILE__, __LINE__))

/* Propagates a non-OK status. */
#define RG_TRY(expr)                      \
    do {                                  \
        rg_status rg_try_status_ = (expr); \
        if (rg_try_status_ != RG_OK) return rg_try_status_; \
    } while (0)

#endif
