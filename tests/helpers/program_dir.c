/* program_dir.c - own folders, files and fake Pythons for tests that run a
 * program (program_dir.h). */
#define _GNU_SOURCE /* program_invocation_short_name */
#include "helpers/program_dir.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

void rnnc_test_own_dir(char *dir, size_t cap, const char *tag)
{
    snprintf(dir, cap, "%s/%s_%ld", RNNC_BUILD_DIR, tag, (long)getpid());
    mkdir(dir, 0777);
}

rnnc_test_run rnnc_test_run_rnnc(const char *const *args)
{
    char dir[512];
    rnnc_test_own_dir(dir, sizeof dir, program_invocation_short_name);
    rnnc_test_run r = rnnc_test_run_program(RNNC_BUILD_DIR "/rnnc", dir, NULL, args);
    rnnc_test_rm_tree(dir);
    return r;
}

void rnnc_test_write_file(const char *dir, const char *name, const char *text, bool exec)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
    if (exec)
        chmod(path, 0755);
}

void rnnc_test_fake_python(const char *dir, const char *body, char *py, size_t cap)
{
    char text[4096];
    snprintf(text, sizeof text, "#!/bin/sh\n%s", body);
    rnnc_test_write_file(dir, "fakepy", text, true);
    snprintf(py, cap, "%s/fakepy", dir);
}
