/* error.c — status strings and the error-message helpers of error.h. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const status_names[RG_STATUS_COUNT] = {
    [RG_OK] = "ok",
    [RG_ERR_INVALID_ARGUMENT] = "invalid argument",
    [RG_ERR_IO] = "i/o error",
    [RG_ERR_PARSE] = "parse error",
    [RG_ERR_INVALID_MODEL] = "invalid model",
    [RG_ERR_UNSUPPORTED] = "unsupported",
    [RG_ERR_SHAPE] = "shape error",
    [RG_ERR_DTYPE] = "dtype error",
    [RG_ERR_CORRUPT_PLAN] = "corrupt plan",
    [RG_ERR_NOMEM] = "out of memory",
    [RG_ERR_NOT_FOUND] = "not found",
    [RG_ERR_DEVICE] = "device error",
    [RG_ERR_INTERNAL] = "internal error",
};

const char *rg_status_string(rg_status status) {
    if ((unsigned)status >= RG_STATUS_COUNT || !status_names[status]) return "unknown status";
    return status_names[status];
}

static void mark_truncated(char *buf, size_t cap, int n) {
    if (n >= 0 && (size_t)n >= cap && cap > 4) memcpy(buf + cap - 4, "...", 4);
}

rg_status rg_error_set(rg_error *err, rg_status status, const char *fmt, ...) {
    if (!err) return status;
    err->status = status;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    if (n < 0) err->message[0] = '\0';
    mark_truncated(err->message, sizeof err->message, n);
    return status;
}

rg_status rg_error_prefix(rg_error *err, rg_status status, const char *fmt, ...) {
    if (!err) return status;
    char prefix[RG_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    if (n < 0) return err->status;
    char old[RG_ERROR_MESSAGE_MAX];
    memcpy(old, err->message, sizeof old);
    old[sizeof old - 1] = '\0';
    n = snprintf(err->message, sizeof err->message, "%s: %s", prefix, old);
    mark_truncated(err->message, sizeof err->message, n);
    if (err->status == RG_OK) err->status = status;
    return err->status;
}

void rg_error_clear(rg_error *err) {
    if (!err) return;
    err->status = RG_OK;
    err->message[0] = '\0';
}

void rg_assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "ragged: internal assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}
