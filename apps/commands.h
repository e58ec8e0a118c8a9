/* commands.h - the rnnc subcommands; main.c dispatches to them. Each takes
 * argv with argv[0] = the command name, prints its own --help, and returns
 * the process exit code (0 success, 1 failure while running, 2 usage error).
 *
 * Not here: option parsing (cli.h), the built-in tasks (tasks.h). */
#ifndef RNNC_APPS_COMMANDS_H
#define RNNC_APPS_COMMANDS_H

int rnnc_cmd_train(int argc, char **argv);
int rnnc_cmd_predict(int argc, char **argv);
int rnnc_cmd_evaluate(int argc, char **argv);
int rnnc_cmd_inspect(int argc, char **argv);
int rnnc_cmd_generate(int argc, char **argv);
/* A checkpoint to a .keras archive or .weights.h5 (apps/cmd_export.c). */
int rnnc_cmd_export(int argc, char **argv);
/* Training curves of a history as SVG (apps/cmd_plot.c). */
int rnnc_cmd_plot(int argc, char **argv);
/* GRU throughput benchmark (apps/cmd_bench.c). */
int rnnc_cmd_bench(int argc, char **argv);
/* Data-parallel training throughput over MPI (apps/cmd_bench_dist.c);
 * `rnnc bench dist` reaches it, argv[0] = "dist". */
int rnnc_cmd_bench_dist(int argc, char **argv);
/* Peak memory of training through the streaming reader (apps/cmd_bench_stream.c). */
int rnnc_cmd_bench_stream(int argc, char **argv);

#endif
