/* file_identity.h - checks a command makes on its output paths before it
 * does any work: that no output is one of its inputs, and that the folder
 * an output goes to accepts new files.
 *
 * Files are compared by device and inode (stat, following links), so
 * symbolic links, hard links and spellings such as "a/../b" or "./b" of
 * one file count as the same file. An output that does not exist yet is
 * no input. Writability is found by trying: a probe file is created and
 * removed in the folder (root ignores permission bits, so only a real
 * attempt finds a read-only mount, a full inode table or a quota).
 *
 * Not here: the writes themselves (h5_util.h's atomic writer). */
#ifndef RNNC_IO_FILE_IDENTITY_H
#define RNNC_IO_FILE_IDENTITY_H

#include <stdbool.h>

#include "framework/tensor.h"

/* An input of a command, for messages: what ("--input", "spec", "data.path")
 * and its path (NULL: not given, skipped). */
typedef struct rnnc_named_path {
    const char *what;
    const char *path;
} rnnc_named_path;

/* Whether a and b name the same existing file. False when either is
 * missing or NULL. */
bool rnnc_same_file(const char *a, const char *b);

/* Fails with RNNC_E_ARG, naming both, when output `out` (out_what, e.g.
 * "--output") is the same file as one of inputs[0..n). */
rnnc_status rnnc_check_not_an_input(const char *out_what, const char *out,
                                    const rnnc_named_path *inputs, int n);

/* Fails with RNNC_E_IO when no new file can be created in folder dir
 * (missing, not a folder, read-only, full, no permission), naming `what`,
 * the folder and the OS's reason. */
rnnc_status rnnc_check_dir_writable(const char *dir, const char *what);
/* The same for the folder that will hold the file `path`. */
rnnc_status rnnc_check_output_writable(const char *path, const char *what);

/* For `rnnc train`, before the first step: --save-weights (may be NULL) is
 * none of the inputs (the spec, its model file, its data files, --weights
 * init, --resume file; NULLs skipped) and its folder takes new files, and
 * the checkpoint folder (when the spec has one, and it exists) takes new
 * files. Each failure names the option or spec key. */
struct rnnc_training_spec;
/* That one output of `rnnc train` (out_what, e.g. "--save-model"; out NULL:
 * none) is none of those inputs. */
rnnc_status rnnc_check_train_output(const struct rnnc_training_spec *spec, const char *out_what, const char *out,
                                    const char *init_weights, const char *resume_file);
rnnc_status rnnc_check_train_outputs(const struct rnnc_training_spec *spec, const char *save_weights,
                                     const char *init_weights, const char *resume_file);

#endif
