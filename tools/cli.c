/*
 * cli.c — the option scanner and error reporting shared by the subcommands
 * of the `ragged` command (see cli.h).
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void rg_cli_args_init(rg_cli_args *a, int argc, char **argv, const char *command) {
    a->argc = argc;
    a->argv = argv;
    a->index = 1;
    a->options_done = false;
    a->command = command;
}

static const rg_cli_option *find_long(const rg_cli_option *options, const char *name, size_t len) {
    for (const rg_cli_option *o = options; o->long_name; o++)
        if (strlen(o->long_name) == len && strncmp(o->long_name, name, len) == 0) return o;
    return NULL;
}

static const rg_cli_option *find_short(const rg_cli_option *options, char c) {
    for (const rg_cli_option *o = options; o->long_name; o++)
        if (o->short_name && o->short_name == c) return o;
    return NULL;
}

/* Takes an option's value from "=VALUE" or the next argument. */
static rg_cli_item take_value(rg_cli_args *a, const rg_cli_option *o, const char *inline_value, const char *spelled,
                              int *id, const char **value) {
    if (!o->takes_value) {
        if (inline_value) return rg_cli_usage_error(a->command, "option '%s' takes no value", spelled), RG_CLI_BAD;
        *id = o->id;
        *value = NULL;
        return RG_CLI_OPTION;
    }
    if (!inline_value) {
        if (a->index >= a->argc)
            return rg_cli_usage_error(a->command, "option '%s' needs a value", spelled), RG_CLI_BAD;
        inline_value = a->argv[a->index++];
    }
    *id = o->id;
    *value = inline_value;
    return RG_CLI_OPTION;
}

rg_cli_item rg_cli_next(rg_cli_args *a, const rg_cli_option *options, int *id, const char **value) {
    if (a->index >= a->argc) return RG_CLI_END;
    const char *arg = a->argv[a->index++];
    if (a->options_done || arg[0] != '-' || arg[1] == '\0') {
        *value = arg;
        return RG_CLI_POSITIONAL;
    }
    if (strcmp(arg, "--") == 0) {
        a->options_done = true;
        return rg_cli_next(a, options, id, value);
    }
    if (arg[1] == '-') {
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const rg_cli_option *o = find_long(options, name, len);
        if (!o) return rg_cli_usage_error(a->command, "unknown option '%.*s'", (int)len + 2, arg), RG_CLI_BAD;
        return take_value(a, o, eq ? eq + 1 : NULL, o->long_name, id, value);
    }
    /* "-o VALUE" or "-oVALUE"; single-letter flags are not bundled. */
    const rg_cli_option *o = find_short(options, arg[1]);
    if (!o) return rg_cli_usage_error(a->command, "unknown option '%s'", arg), RG_CLI_BAD;
    if (!o->takes_value && arg[2] != '\0')
        return rg_cli_usage_error(a->command, "unknown option '%s'", arg), RG_CLI_BAD;
    return take_value(a, o, arg[2] ? arg + 2 : NULL, o->long_name, id, value);
}

int rg_cli_usage_error(const char *command, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ragged%s%s: ", command ? " " : "", command ? command : "");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'ragged%s%s --help'.\n", command ? " " : "", command ? command : "");
    return RG_EXIT_USAGE;
}

void rg_cli_note_fallback(const rg_session *session) {
    const char *why = rg_session_fallback_reason(session);
    if (why) fprintf(stderr, "ragged: %s; running on the CPU\n", why);
}

int rg_cli_fail(const rg_error *err) {
    const char *msg = err && err->message[0] ? err->message : rg_status_string(err ? err->status : RG_ERR_INTERNAL);
    fprintf(stderr, "ragged: error: %s\n", msg);
    return RG_EXIT_FAIL;
}

bool rg_cli_parse_int(const char *text, int64_t min, int64_t max, int64_t *out) {
    if (!text || !*text || *text == ' ') return false;
    errno = 0;
    char *end;
    long long v = strtoll(text, &end, 10);
    if (errno || *end != '\0' || v < min || v > max) return false;
    *out = v;
    return true;
}

bool rg_cli_split_assignment(const char *text, char *name, size_t cap, const char **rest) {
    const char *eq = strchr(text, '=');
    if (!eq || eq == text || cap == 0) return false;
    size_t len = (size_t)(eq - text);
    if (len >= cap) return false;
    memcpy(name, text, len);
    name[len] = '\0';
    *rest = eq + 1;
    return true;
}

double rg_cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

bool rg_cli_parse_persistent(const char *text, rg_persistent_mode *out) {
    if (!strcmp(text, "auto")) *out = RG_PERSISTENT_AUTO;
    else if (!strcmp(text, "on")) *out = RG_PERSISTENT_ON;
    else if (!strcmp(text, "off")) *out = RG_PERSISTENT_OFF;
    else return false;
    return true;
}
