/* run_program.c - run a program, read a file, remove a tree (run_program.h). */
#define _XOPEN_SOURCE 700
#include "helpers/run_program.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

char *rnnc_test_slurp(const char *path, size_t *len)
{
    if (len)
        *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = n >= 0 ? malloc((size_t)n + 1) : NULL;
    size_t got = b ? fread(b, 1, (size_t)n, f) : 0;
    fclose(f);
    if (!b)
        return NULL;
    b[got] = '\0';
    if (len)
        *len = got;
    return b;
}

void rnnc_test_rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        unlink(path);
        return;
    }
    DIR *d = opendir(path);
    struct dirent *e;
    char p[4200];
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", path, e->d_name);
            rnnc_test_rm_tree(p);
        }
    if (d)
        closedir(d);
    rmdir(path);
}

int rnnc_test_count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

rnnc_test_run rnnc_test_run_program(const char *bin, const char *cwd, const char *const *env,
                                    const char *const *args)
{
    char outp[4200], errp[4200];
    rnnc_test_run r = {-1, NULL, NULL};
    /* named after this (test) process: two tests running programs in the
     * same folder at once (criterion runs tests in parallel unless given
     * --jobs 1) must not truncate or unlink each other's captures */
    snprintf(outp, sizeof outp, "%s/.stdout.%ld", cwd, (long)getpid());
    snprintf(errp, sizeof errp, "%s/.stderr.%ld", cwd, (long)getpid());
    pid_t pid = fork();
    if (pid == 0) {
        int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0 || chdir(cwd) != 0)
            _exit(126);
        for (int i = 0; env && env[i]; i++)
            putenv((char *)env[i]);
        const char *argv[64] = {bin};
        int n = 1;
        for (int i = 0; args[i] && n < 63; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    if (pid > 0) {
        int status;
        waitpid(pid, &status, 0);
        r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    r.out = rnnc_test_slurp(outp, NULL);
    r.err = rnnc_test_slurp(errp, NULL);
    if (!r.out)
        r.out = calloc(1, 1);
    if (!r.err)
        r.err = calloc(1, 1);
    unlink(outp);
    unlink(errp);
    return r;
}

void rnnc_test_run_free(rnnc_test_run *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}
