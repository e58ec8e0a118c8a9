/* cli.c - option parsing and error printing for the rnnc subcommands. */
#define _POSIX_C_SOURCE 200809L
#include "apps/cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "framework/backend.h"
#include "framework/backend_ops.h"
#include "framework/config.h"

void rnnc_cli_error(const rnnc_cli_cmd *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "rnnc %s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int rnnc_cli_fail(const rnnc_cli_cmd *cmd, rnnc_status s)
{
    const char *msg = rnnc_last_error();
    /* Keep the convention of one line: messages may not hold newlines, but be safe. */
    fprintf(stderr, "rnnc %s: ", cmd->name);
    for (const char *p = msg[0] ? msg : rnnc_status_str(s); *p; p++)
        fputc(*p == '\n' ? ' ' : *p, stderr);
    fputc('\n', stderr);
    return RNNC_EXIT_FAIL;
}

/* The table the device path runs on for cuda: the CUDA backend's, or,
 * with RNNC_TEST_DEVICE_TABLE=cpu in the environment (tests only: there is
 * no GPU on the machines that run them), the CPU backend's table standing
 * in for a present device, so the program's device path and its messages
 * can be tested. */
static bool test_table(const rnnc_backend_ops **be)
{
    const char *t = getenv("RNNC_TEST_DEVICE_TABLE");
    if (!t || strcmp(t, "cpu") != 0)
        return false;
    *be = rnnc_backend_ops_cpu();
    return true;
}

/* what: "--device" or "spec device". */
static int device_choice(const rnnc_cli_cmd *cmd, const char *what, const char *value,
                         const rnnc_backend_ops **be)
{
    rnnc_device want = RNNC_DEVICE_CPU;
    *be = NULL;
    if (value && rnnc_device_parse(value, &want) != RNNC_OK) {
        rnnc_cli_error(cmd, "--%s", rnnc_last_error());
        return RNNC_EXIT_USAGE;
    }
    if (want == RNNC_DEVICE_CPU)
        return -1;
    if (test_table(be)) {
        if (want == RNNC_DEVICE_AUTO)
            fprintf(stderr, "rnnc %s: %s auto: running on the %s backend table (RNNC_TEST_DEVICE_TABLE)\n",
                    cmd->name, what, (*be)->name);
        return -1;
    }
    if (want == RNNC_DEVICE_AUTO) {
        if (rnnc_device_available(RNNC_DEVICE_CUDA) && rnnc_backend_ops_get(RNNC_DEVICE_CUDA, be) == RNNC_OK) {
            fprintf(stderr, "rnnc %s: %s auto: a CUDA device is present; running on the GPU\n", cmd->name, what);
            return -1;
        }
        *be = NULL;
        return -1;
    }
    if (rnnc_backend_ops_get(RNNC_DEVICE_CUDA, be) != RNNC_OK) {
        *be = NULL;
        rnnc_cli_error(cmd, "%s cuda: %s", what, rnnc_last_error());
        return RNNC_EXIT_FAIL;
    }
    return -1;
}

int rnnc_cli_device(const rnnc_cli_cmd *cmd, const char *value, const rnnc_backend_ops **be)
{
    return device_choice(cmd, "--device", value, be);
}

int rnnc_cli_spec_device(const rnnc_cli_cmd *cmd, const char *value, const rnnc_backend_ops **be)
{
    return device_choice(cmd, "spec device", value, be);
}

int rnnc_cli_device_fail(const rnnc_cli_cmd *cmd, const char *option, const char *spec, rnnc_status s)
{
    if (option)
        return rnnc_cli_fail(cmd, rnnc_fail_context(s, "--device %s: ", option));
    return rnnc_cli_fail(cmd, rnnc_fail_context(s, "spec device %s: ", spec ? spec : "cuda"));
}

void rnnc_cli_help(const rnnc_cli_cmd *cmd, FILE *f)
{
    fprintf(f, "usage: rnnc %s %s\n\n%s\n", cmd->name, cmd->usage, cmd->summary);
    if (cmd->details)
        fprintf(f, "\n%s\n", cmd->details);
    fprintf(f, "\noptions:\n");
    for (const rnnc_cli_opt *o = cmd->opts; o && o->name; o++) {
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
        fprintf(f, "  %-26s %s\n", left, o->help);
    }
    fprintf(f, "  %-26s %s\n", "-h, --help", "show this help and exit");
}

static rnnc_cli_opt *find_opt(rnnc_cli_cmd *cmd, const char *name, size_t len)
{
    for (rnnc_cli_opt *o = cmd->opts; o && o->name; o++)
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
            return o;
    return NULL;
}

int rnnc_cli_parse(rnnc_cli_cmd *cmd, int argc, char **argv)
{
    const char *names[64];
    int n_names = 0;
    for (rnnc_cli_opt *o = cmd->opts; o && o->name && n_names < 62; o++)
        names[n_names++] = o->name;
    names[n_names++] = "--help";
    names[n_names] = NULL;
    cmd->n_pos = 0;
    bool only_pos = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_pos && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) {
            rnnc_cli_help(cmd, stdout);
            return RNNC_EXIT_OK;
        }
        if (!only_pos && strcmp(a, "--") == 0) {
            only_pos = true;
            continue;
        }
        if (!only_pos && a[0] == '-' && a[1] != '\0') {
            const char *eq = strchr(a, '=');
            size_t len = eq ? (size_t)(eq - a) : strlen(a);
            rnnc_cli_opt *o = find_opt(cmd, a, len);
            if (!o) {
                char given[128];
                snprintf(given, sizeof given, "%.*s", (int)(len < 100 ? len : 100), a);
                const char *near = rnnc_nearest_name(given, names);
                rnnc_cli_error(cmd, "unknown option '%s'%s%s%s; see 'rnnc %s --help'", given,
                               near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "",
                               cmd->name);
                return RNNC_EXIT_USAGE;
            }
            if (!o->metavar) {
                if (eq) {
                    rnnc_cli_error(cmd, "option '%s' takes no value; write just '%s'", o->name, o->name);
                    return RNNC_EXIT_USAGE;
                }
                o->value = "";
                continue;
            }
            const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v || (!eq && v[0] == '-' && v[1] == '-')) {
                rnnc_cli_error(cmd, "option '%s' needs a value: %s %s; see 'rnnc %s --help'", o->name,
                               o->name, o->metavar, cmd->name);
                return RNNC_EXIT_USAGE;
            }
            if (o->value) {
                rnnc_cli_error(cmd, "option '%s' is given twice; give it once", o->name);
                return RNNC_EXIT_USAGE;
            }
            o->value = v;
            continue;
        }
        if (cmd->n_pos >= cmd->max_pos || cmd->n_pos >= 8) {
            rnnc_cli_error(cmd, "unexpected argument '%s'; usage: rnnc %s %s", a, cmd->name, cmd->usage);
            return RNNC_EXIT_USAGE;
        }
        cmd->pos[cmd->n_pos++] = a;
    }
    if (cmd->n_pos < cmd->min_pos) {
        rnnc_cli_error(cmd, "missing argument; usage: rnnc %s %s (see 'rnnc %s --help')", cmd->name,
                       cmd->usage, cmd->name);
        return RNNC_EXIT_USAGE;
    }
    return -1;
}

const char *rnnc_cli_get(const rnnc_cli_cmd *cmd, const char *name)
{
    for (const rnnc_cli_opt *o = cmd->opts; o && o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o->value;
    return NULL;
}

bool rnnc_cli_int(const rnnc_cli_cmd *cmd, const char *opt, const char *value, int64_t lo,
                  int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno || end == value || *end != '\0' || v < lo || v > hi) {
        rnnc_cli_error(cmd, "%s must be an integer in [%lld, %lld], got '%s'", opt, (long long)lo,
                       (long long)hi, value);
        return false;
    }
    *out = v;
    return true;
}

bool rnnc_cli_float(const rnnc_cli_cmd *cmd, const char *opt, const char *value, double lo,
                    double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    if (errno || end == value || *end != '\0' || !isfinite(v) || v < lo || v > hi) {
        rnnc_cli_error(cmd, "%s must be a number in [%g, %g], got '%s'", opt, lo, hi, value);
        return false;
    }
    *out = v;
    return true;
}

bool rnnc_cli_need_file(const rnnc_cli_cmd *cmd, const char *what, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        rnnc_cli_error(cmd, "%s '%s' does not exist (%s); check the path", what, path, strerror(errno));
        return false;
    }
    if (S_ISDIR(st.st_mode)) {
        rnnc_cli_error(cmd, "%s '%s' is a directory; give a file", what, path);
        return false;
    }
    return true;
}

double rnnc_cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
