/* file_identity.c - same-file and writable-folder checks (file_identity.h). */
#define _POSIX_C_SOURCE 200809L
#include "io/file_identity.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/training_spec.h"

bool rnnc_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (!a || !b || stat(a, &sa) != 0 || stat(b, &sb) != 0)
        return false;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

rnnc_status rnnc_check_not_an_input(const char *out_what, const char *out,
                                    const rnnc_named_path *inputs, int n)
{
    for (int i = 0; out && i < n; i++)
        if (rnnc_same_file(out, inputs[i].path))
            return rnnc_fail(RNNC_E_ARG, "%s '%s' is the same file as %s '%s'; writing it would replace that input: give another output path",
                             out_what, out, inputs[i].what, inputs[i].path);
    return RNNC_OK;
}

rnnc_status rnnc_check_dir_writable(const char *dir, const char *what)
{
    static unsigned counter;
    char probe[4200];
    struct stat st;
    if (!dir || !dir[0])
        dir = ".";
    if (stat(dir, &st) != 0)
        return rnnc_fail(RNNC_E_IO, "cannot write %s: folder '%s': %s", what, dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return rnnc_fail(RNNC_E_IO, "cannot write %s: '%s' is not a folder", what, dir);
    int fd = -1, err = 0;
    for (int tries = 0; tries < 100 && fd < 0; tries++) {
        snprintf(probe, sizeof probe, "%s/.rnnc-write-probe.%ld.%u", dir, (long)getpid(), counter++);
        fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        err = fd < 0 ? errno : 0;
        if (fd < 0 && err != EEXIST)
            break;
    }
    if (fd < 0)
        return rnnc_fail(RNNC_E_IO, "cannot write %s: folder '%s' does not accept new files: %s (checked before any work)",
                         what, dir, strerror(err));
    close(fd);
    unlink(probe);
    return RNNC_OK;
}

rnnc_status rnnc_check_output_writable(const char *path, const char *what)
{
    char dir[4096];
    const char *slash = path ? strrchr(path, '/') : NULL;
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    return rnnc_check_dir_writable(dir, what);
}

rnnc_status rnnc_check_train_output(const rnnc_training_spec *spec, const char *out_what, const char *out,
                                    const char *init_weights, const char *resume_file)
{
    const rnnc_named_path ins[] = {
        {"the spec", spec->path},
        {"the spec's model", spec->model_path},
        {"the spec's data.path", spec->train.path},
        {"the spec's data.test", spec->test.path},
        {"the spec's fit.validation_data", spec->validation_data.path},
        {"--weights", init_weights},
        {"--resume", resume_file},
    };
    return out ? rnnc_check_not_an_input(out_what, out, ins, (int)(sizeof ins / sizeof ins[0])) : RNNC_OK;
}

rnnc_status rnnc_check_train_outputs(const rnnc_training_spec *spec, const char *save_weights,
                                     const char *init_weights, const char *resume_file)
{
    char what[4200];
    if (save_weights) {
        RNNC_TRY(rnnc_check_train_output(spec, "--save-weights", save_weights, init_weights, resume_file));
        snprintf(what, sizeof what, "--save-weights '%s'", save_weights);
        RNNC_TRY(rnnc_check_output_writable(save_weights, what));
    }
    struct stat st;
    if (spec->has_checkpoint && spec->checkpoint_dir && stat(spec->checkpoint_dir, &st) == 0) {
        snprintf(what, sizeof what, "checkpoints (checkpoint.directory '%s')", spec->checkpoint_dir);
        RNNC_TRY(rnnc_check_dir_writable(spec->checkpoint_dir, what));
    }
    return RNNC_OK;
}
