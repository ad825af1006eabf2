/*
 * cli.h — what the subcommands of the `ragged` command share: the option
 * scanner, the exit codes, and how errors are reported.
 *
 * Each subcommand describes its options in a table and pulls them one at a
 * time with rg_cli_next(), switching on the option id; adding an option (a
 * later --stage or --format) is one table row and one case. Options take
 * their value as "--name VALUE", "--name=VALUE" or "-x VALUE"; "--" ends the
 * options; everything else is positional.
 */
#ifndef RG_TOOLS_CLI_H
#define RG_TOOLS_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "ir/error.h"

/* Exit codes of the command. */
enum {
    RG_EXIT_OK = 0,    /* success */
    RG_EXIT_FAIL = 1,  /* a model, plan, file or run failed: "ragged: error: ..." on stderr */
    RG_EXIT_USAGE = 2, /* the command line is wrong: a usage message on stderr */
};

typedef struct rg_cli_option {
    const char *long_name; /* without the leading "--" */
    char short_name;       /* 0 when there is none */
    bool takes_value;
    int id;
} rg_cli_option;

/* Terminated by an entry whose long_name is NULL. */
typedef struct rg_cli_args {
    int argc;
    char **argv;
    int index;
    bool options_done; /* after "--" */
    const char *command; /* "compile", ... for messages */
} rg_cli_args;

typedef enum rg_cli_item {
    RG_CLI_END,        /* no more arguments */
    RG_CLI_OPTION,     /* *id and *value (NULL for a flag) are set */
    RG_CLI_POSITIONAL, /* *value is the argument */
    RG_CLI_BAD,        /* a usage message was printed to stderr */
} rg_cli_item;

/* Starts scanning argv[1..argc) (argv[0] is the subcommand's name). */
void rg_cli_args_init(rg_cli_args *a, int argc, char **argv, const char *command);
rg_cli_item rg_cli_next(rg_cli_args *a, const rg_cli_option *options, int *id, const char **value);

/* Prints "ragged <command>: <message>" and a pointer to --help on stderr;
 * returns RG_EXIT_USAGE. `command` may be NULL for the top level. */
int rg_cli_usage_error(const char *command, const char *fmt, ...) RG_PRINTF(2, 3);

/* Prints "ragged: error: <message>" on stderr; returns RG_EXIT_FAIL. */
int rg_cli_fail(const rg_error *err);
/* When a session fell back from the GPU to the CPU, says why on stderr, once. */
void rg_cli_note_fallback(const rg_session *session);

/* Parses a whole decimal integer in [min, max]; false on anything else. */
bool rg_cli_parse_int(const char *text, int64_t min, int64_t max, int64_t *out);
/* "auto", "on" or "off" (--persistent of run and bench); false for anything else. */
bool rg_cli_parse_persistent(const char *text, rg_persistent_mode *out);

/* Splits "NAME=REST" at the first '='; false when there is no '=', or the
 * name is empty or does not fit `cap` bytes with its NUL. */
bool rg_cli_split_assignment(const char *text, char *name, size_t cap, const char **rest);

/* Seconds on a monotonic clock. */
double rg_cli_now(void);

/* The subcommands: argv[0] is the subcommand's name. */
int rg_cmd_compile(int argc, char **argv);
int rg_cmd_run(int argc, char **argv);
int rg_cmd_dump(int argc, char **argv);
int rg_cmd_bench(int argc, char **argv);

#endif
