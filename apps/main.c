/* main.c - the rnnc program: dispatches `rnnc COMMAND ...` to the commands
 * of commands.h, and answers --help / --version. Only this folder may exit. */
#include <stdio.h>
#include <string.h>

#include <hdf5.h>

#include "apps/cli.h"
#include "apps/commands.h"
#include "apps/interrupt.h"
#include "framework/config.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"train", rnnc_cmd_train, "train a model as a training spec (YAML) says"},
    {"evaluate", rnnc_cmd_evaluate, "print loss and metrics of trained weights on a spec's test data"},
    {"predict", rnnc_cmd_predict, "run a model on inputs from an HDF5 file, write its outputs to another"},
    {"inspect", rnnc_cmd_inspect, "describe a spec, config, weights file, .keras archive or checkpoint"},
    {"generate", rnnc_cmd_generate, "sample text from a character-level model (the chars task)"},
    {"export", rnnc_cmd_export, "write a checkpoint's model as a Keras .keras archive or .weights.h5"},
    {"plot", rnnc_cmd_plot, "draw a run's training and validation curves (history) as SVG"},
    {"bench", rnnc_cmd_bench, "measure speed: gru, lstm (against PyTorch, Keras, ONNX Runtime), dist (MPI), stream"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: rnnc COMMAND [ARGS...]\n\n"
               "rnnc trains recurrent models (Keras 3 GRU and friends) from YAML specs.\n\n"
               "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'rnnc COMMAND --help' describes a command.\n"
               "First run: rnnc train examples/adding.yaml --save-weights build/adding.weights.h5\n");
}

int main(int argc, char **argv)
{
    /* No HDF5 clean-up at exit: every file rnnc writes is closed (and
     * written by rnnc itself) before it returns, and HDF5 1.10 cannot close
     * a damaged file it failed to read (e.g. an object header longer than
     * the file): its exit hook then printed "HDF5: infinite loop closing
     * library" and a line of 1000 codes after rnnc's one-line error. */
    H5dont_atexit();
    if (argc < 2) {
        fprintf(stderr, "rnnc: missing command; try 'rnnc train examples/adding.yaml' or 'rnnc --help'\n");
        return RNNC_EXIT_USAGE;
    }
    const char *name = argv[1];
    rnnc_interrupt_set_program(argv[0]);
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "help") == 0) {
        if (strcmp(name, "help") == 0 && argc > 2) {
            for (size_t i = 0; i < N_COMMANDS; i++)
                if (strcmp(argv[2], commands[i].name) == 0) {
                    char *help_argv[] = {argv[2], "--help", NULL};
                    return commands[i].run(2, help_argv);
                }
        }
        usage(stdout);
        return RNNC_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("rnnc 0.1.0\n");
        return RNNC_EXIT_OK;
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(name, commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    const char *names[N_COMMANDS + 1];
    for (size_t i = 0; i < N_COMMANDS; i++)
        names[i] = commands[i].name;
    names[N_COMMANDS] = NULL;
    const char *near = rnnc_nearest_name(name, names);
    if (name[0] == '-')
        fprintf(stderr, "rnnc: unknown option '%s' before the command; usage: rnnc COMMAND [ARGS...] (see 'rnnc --help')\n", name);
    else if (near)
        fprintf(stderr, "rnnc: unknown command '%s' (did you mean '%s'?); see 'rnnc --help'\n", name, near);
    else
        fprintf(stderr, "rnnc: unknown command '%s'; the commands are train, evaluate, predict, inspect, generate, bench (see 'rnnc --help')\n",
                name);
    return RNNC_EXIT_USAGE;
}
