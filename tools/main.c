/*
 * main.c — the `ragged` command: dispatches to a subcommand (compile, run,
 * dump), answers --help and --version. Exit codes: 0 success, 1 failure
 * ("ragged: error: ..." on stderr), 2 a wrong command line (usage on stderr).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"compile", rg_cmd_compile, "compile an ONNX model into a plan file"},
    {"run", rg_cmd_run, "run a plan on .npy inputs or generated ones"},
    {"dump", rg_cmd_dump, "print a model's or plan's graph as text, or its statistics"},
    {"bench", rg_cmd_bench, "time whole runs of a plan per batch shape"},
};

static void print_usage(FILE *out) {
    fprintf(out,
            "usage: ragged <command> [options]\n"
            "       ragged --help | --version\n"
            "\n"
            "ragged compiles transformer models exported to ONNX into plan files and runs them.\n"
            "\n"
            "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\n"
            "'ragged <command> --help' describes a command's options.\n"
            "Exit status: 0 on success, 1 on failure, 2 on a wrong command line.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        print_usage(stderr);
        return RG_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        print_usage(stdout);
        return RG_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0) {
        printf("ragged %d.%d.%d\n", RG_VERSION_MAJOR, RG_VERSION_MINOR, RG_VERSION_PATCH);
        return RG_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(name, commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    if (name[0] == '-') return rg_cli_usage_error(NULL, "unknown option '%s'", name);
    return rg_cli_usage_error(NULL, "unknown command '%s'", name);
}
