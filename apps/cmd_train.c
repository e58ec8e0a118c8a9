/* cmd_train.c - `rnnc train`: compiles and fits the model of a training
 * spec on its data, with the progress display, checkpoints (written after
 * every `every`-th epoch and the last, newest `keep` kept), resume from a
 * checkpoint, a final report (loss and metrics, time, time steps per
 * second, the test split, a reference number, predictions next to targets)
 * and the trained weights in Keras's .weights.h5 layout. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "apps/cli.h"
#include "framework/comm.h"
#include "apps/commands.h"
#include "apps/describe.h"
#include "apps/fit_callbacks.h"
#include "apps/forward.h"
#include "apps/interrupt.h"
#include "apps/session.h"
#include "apps/train_state.h"
#include "io/checkpoint.h"
#include "io/file_identity.h"
#include "io/json_writer.h"
#include "io/model_loader.h"
#include "io/row_reader.h"
#include "io/stream_reader.h"
#include "io/weights_h5.h"
#include "optim/trainer.h"

static rnnc_cli_opt opts[] = {
    {"--weights", "INIT.weights.h5", "start from these weights instead of fresh ones", NULL},
    {"--save-weights", "OUT.weights.h5", "write the trained weights here (Keras 3 .weights.h5 layout)", NULL},
    {"--save-model", "OUT.keras", "write the trained model here as a Keras 3 .keras archive", NULL},
    {"--resume", "CHECKPOINT", "continue from a checkpoint file, or the newest one in a directory", NULL},
    {"--epochs", "N", "train until epoch N (overrides fit.epochs)", NULL},
    {"--seed", "S", "seed for weight initialisation and shuffling (overrides fit.seed)", NULL},
    {"--device", "cpu|cuda|auto", "where to run (default cpu): cuda runs the model on the GPU (docs/gpu.md), auto takes the GPU when one is present", NULL},
    {"--overwrite", NULL, "delete checkpoints of an earlier run from the checkpoint directory first", NULL},
    {NULL, NULL, NULL, NULL},
};

static rnnc_cli_cmd cmd = {
    .name = "train",
    .usage = "SPEC.yaml [--weights INIT.weights.h5] [--save-weights OUT.weights.h5] [--save-model OUT.keras] [--resume CHECKPOINT] [--epochs N] [--seed S] [--overwrite]",
    .summary = "Train the model of a training spec on its data (see docs/spec-format.md).",
    .details = "Prints the progress display, then a summary: loss and metrics, time, time steps\n"
               "per second, the test split's scores next to a reference, and a few predictions\n"
               "next to their targets. Checkpoints go where the spec's checkpoint section says;\n"
               "--resume continues bit-for-bit from one. A new run refuses a checkpoint directory\n"
               "that already holds checkpoints (--overwrite deletes them first). SIGINT or SIGTERM\n"
               "stop after the current batch with a checkpoint and the command that resumes it\n"
               "(exit 130 / 143); a second signal exits at once.\n\n"
               "Example:\n"
               "  rnnc train examples/adding.yaml --save-weights build/adding.weights.h5",
    .min_pos = 1,
    .max_pos = 1,
    .opts = opts,
};

/* The ranks of `mpirun -np N rnnc train` (docs/distributed.md): *comm
 * NULL when not started by an MPI launcher (one process, as always).
 * Ranks other than 0 print nothing (stdout goes to /dev/null; errors still
 * reach stderr) and write no file. */
static rnnc_status open_ranks(rnnc_comm **comm)
{
    *comm = NULL;
    const char *size = getenv("OMPI_COMM_WORLD_SIZE");
    if (!size)
        size = getenv("PMI_SIZE");
    if (!size && !getenv("PMIX_RANK"))
        return RNNC_OK;
    if (!rnnc_comm_mpi_built()) {
        if (size && atoi(size) > 1)
            return rnnc_fail(RNNC_E_UNSUPPORTED, "started by mpirun with %s ranks, but this rnnc was built without MPI "
                                                 "(install libopenmpi-dev and configure with -DRNNC_MPI=ON)",
                             size);
        return RNNC_OK;
    }
    RNNC_TRY(rnnc_comm_world(comm));
    if (rnnc_comm_rank(*comm) != 0 && !freopen("/dev/null", "w", stdout))
        return rnnc_fail(RNNC_E_IO, "rank %d: cannot silence stdout", rnnc_comm_rank(*comm));
    return RNNC_OK;
}

/* --save-weights must be a *.weights.h5 path, --save-model a *.keras one,
 * in an existing folder (Keras requires the suffix; checking now saves a
 * failed save after training). */
static bool check_out_path(const char *opt, const char *path)
{
    size_t n = strlen(path);
    const bool model = strcmp(opt, "--save-model") == 0;
    const char *suffix = model ? ".keras" : ".weights.h5";
    if (n < strlen(suffix) || strcmp(path + n - strlen(suffix), suffix) != 0) {
        rnnc_cli_error(&cmd, "%s '%s' must end in %s (the Keras 3 %s format), e.g. build/model%s", opt, path, suffix,
                       model ? "model" : "weights", suffix);
        return false;
    }
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        rnnc_cli_error(&cmd, "%s '%s' is a directory; give a file name", opt, path);
        return false;
    }
    const char *slash = strrchr(path, '/');
    if (slash && slash != path) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            rnnc_cli_error(&cmd, "cannot write %s '%s': folder '%s' does not exist; create it first", opt, path, dir);
            return false;
        }
    }
    return true;
}

/* The folder that will hold `path` takes new files (a probe file made and
 * removed), before any work: a read-only folder would otherwise fail the
 * save only after training. A folder the save creates (ModelCheckpoint
 * makes its folders) is checked at its nearest existing ancestor. */
static rnnc_status check_out_writable(const char *what, const char *path)
{
    char dir[4096], label[4400];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else
        snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    struct stat st;
    while (stat(dir, &st) != 0 && errno == ENOENT) {
        char *cut = strrchr(dir, '/');
        if (!cut) {
            snprintf(dir, sizeof dir, ".");
            break;
        }
        *(cut == dir ? cut + 1 : cut) = '\0';
    }
    snprintf(label, sizeof label, "%s '%s'", what, path);
    return rnnc_check_dir_writable(dir, label);
}

/* --resume: a file, or a directory whose newest checkpoint is used. */
static rnnc_status resolve_resume(const char *arg, char *buf, size_t cap)
{
    struct stat st;
    if (stat(arg, &st) != 0)
        return rnnc_fail(RNNC_E_IO, "--resume '%s' does not exist (%s); give a checkpoint file or its directory",
                         arg, strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        snprintf(buf, cap, "%s", arg);
        return RNNC_OK;
    }
    bool found;
    RNNC_TRY(rnnc_checkpoint_latest(arg, buf, cap, &found));
    if (!found)
        return rnnc_fail(RNNC_E_IO, "--resume: directory '%s' holds no checkpoint (ckpt-NNNNNN.weights.h5)", arg);
    return RNNC_OK;
}

static void print_logs(const rnnc_logs *l)
{
    for (int i = 0; i < l->n; i++)
        printf("%s%s %.4f", i ? " - " : "", l->names[i], l->values[i]);
}

/* arg appended to buf after a space, in single quotes unless it is plain. */
static void append_arg(char *buf, size_t cap, const char *arg)
{
    size_t at = strlen(buf);
    bool plain = *arg != '\0';
    for (const char *p = arg; *p; p++)
        plain = plain && (isalnum((unsigned char)*p) || strchr("_./:=@%+-,", *p));
    if (plain) {
        snprintf(buf + at, cap - at, " %s", arg);
        return;
    }
    snprintf(buf + at, cap - at, " '");
    for (const char *p = arg; *p; p++) {
        at = strlen(buf);
        snprintf(buf + at, cap - at, *p == '\'' ? "'\\''" : "%c", *p);
    }
    at = strlen(buf);
    snprintf(buf + at, cap - at, "'");
}

/* After fit stopped on SIGINT / SIGTERM in epoch `epoch` (0-based) after
 * `batch` of its `steps` batches: the checkpoint, the command that resumes
 * from it, and the exit code 128 + signal. */
static int interrupted(rnnc_train_state *ts, const char *spec_path, int epoch, int64_t batch, int64_t steps)
{
    int sig = rnnc_interrupt_signal();
    const char *name = rnnc_interrupt_signal_name(sig);
    char path[4200], again[16384];
    rnnc_status s = rnnc_train_state_interrupt(ts, epoch, batch, path, sizeof path);
    if (s)
        return rnnc_cli_fail(&cmd, rnnc_fail_context(s, "interrupted by %s, and the checkpoint could not be written: ",
                                                     name));
    snprintf(again, sizeof again, "%s", rnnc_interrupt_program());
    append_arg(again, sizeof again, "train");
    append_arg(again, sizeof again, spec_path);
    append_arg(again, sizeof again, "--resume");
    append_arg(again, sizeof again, path);
    static const char *const kept[] = {"--epochs", "--seed", "--save-weights", "--save-model", "--device", NULL};
    for (int i = 0; kept[i]; i++) {
        const char *v = rnnc_cli_get(&cmd, kept[i]);
        if (v) {
            append_arg(again, sizeof again, kept[i]);
            append_arg(again, sizeof again, v);
        }
    }
    if (batch > 0)
        printf("\nInterrupted by %s in epoch %d after batch %lld of %lld\n", name, epoch + 1, (long long)batch,
               (long long)steps);
    else
        printf("\nInterrupted by %s before epoch %d\n", name, epoch + 1);
    printf("Checkpoint: %s\n", path);
    fflush(stdout);
    fprintf(stderr, "rnnc train: interrupted by %s; resume with: %s\n", name, again);
    return 128 + sig;
}

/* The training rows read from their file batch by batch (session.h
 * train_by_rows): the streaming reader, or the row reader with the run's
 * order of each pass (train_state's permutation, as the data in memory
 * would be shuffled: the same batches, and --resume continues them). */
typedef struct train_source {
    rnnc_stream_reader *stream;
    rnnc_dataset_rows *rows;
    const int64_t *perm; /* file row of each position this pass, or NULL (the file's order) */
    int64_t from;        /* without perm: the file row of position 0 (validation_split's rows) */
    int64_t *mapped;
    int64_t cap;
} train_source;

static rnnc_status read_train_rows(void *user, rnnc_ctx *cx, const int64_t *pos, int64_t count, rnnc_tensor **x,
                                   rnnc_tensor **y, rnnc_tensor **sw)
{
    train_source *t = user;
    if ((!t->perm && t->from == 0) || count == 0)
        return rnnc_dataset_rows_read(t->rows, cx, pos, count, x, y, sw);
    if (count > t->cap) {
        int64_t *m = realloc(t->mapped, (size_t)count * sizeof *m);
        if (!m)
            return rnnc_fail(RNNC_E_NOMEM, "out of memory for %lld row numbers", (long long)count);
        t->mapped = m;
        t->cap = count;
    }
    for (int64_t i = 0; i < count; i++)
        t->mapped[i] = t->perm ? t->perm[pos[i]] : t->from + pos[i];
    return rnnc_dataset_rows_read(t->rows, cx, t->mapped, count, x, y, sw);
}

static void train_source_close(train_source *t)
{
    rnnc_stream_reader_close(t->stream);
    rnnc_dataset_rows_close(t->rows);
    free(t->mapped);
    memset(t, 0, sizeof *t);
}

/* Opens the training file's reader when the session reads it by rows;
 * the stream's order starts at the pass of the first epoch run (resume). */
static rnnc_status train_source_open(train_source *t, const rnnc_app_session *ses, const rnnc_train_state *ts,
                                     rnnc_row_source *src)
{
    memset(t, 0, sizeof *t);
    rnnc_dataset_options o;
    rnnc_app_train_options(ses, &o);
    const rnnc_training_spec *spec = ses->spec;
    if (ses->streaming) {
        int64_t first, count, pass;
        rnnc_fit_epoch_span(ts->steps, spec->steps_per_epoch, ts->start_epoch - rnnc_train_state_pass_origin(ts),
                            &first, &count, &pass);
        rnnc_stream_options so = {.chunk_rows = spec->chunk_size,
                                  .window_chunks = (int)spec->shuffle_window,
                                  .no_shuffle = !spec->shuffle,
                                  .seed = ts->shuffle_seed,
                                  .first_epoch = pass};
        rnnc_status s = rnnc_stream_reader_open(spec->train.path, &o, &so, &t->stream);
        if (s)
            return rnnc_fail_context(s, "data: ");
        *src = (rnnc_row_source){rnnc_stream_reader_count(t->stream), rnnc_stream_reader_read, t->stream};
        return RNNC_OK;
    }
    rnnc_status s = rnnc_dataset_rows_open(spec->train.path, &o, &t->rows);
    if (s)
        return rnnc_fail_context(s, "data: ");
    t->perm = ts->perm;
    /* its first train_rows rows (the rest validates with fit.validation_split) */
    *src = (rnnc_row_source){ses->train_rows, read_train_rows, t};
    return RNNC_OK;
}

/* Data-parallel: the rows of a validation or test split read by rows,
 * each rank its part of every batch (the session loaded only the first
 * batch): a validation_data or test file, or with which NULL the training
 * file's last rows (fit.validation_split). */
static rnnc_status eval_rows_open(const rnnc_app_session *ses, const rnnc_spec_source *which, train_source *t,
                                  rnnc_row_source *src)
{
    memset(t, 0, sizeof *t);
    const rnnc_spec_source *file = which ? which : &ses->spec->train;
    rnnc_dataset_options o;
    rnnc_app_source_options(ses, file, &o);
    RNNC_TRY(rnnc_dataset_rows_open(file->path, &o, &t->rows));
    t->from = which ? 0 : ses->validation_from;
    *src = (rnnc_row_source){which ? rnnc_dataset_rows_count(t->rows) : ses->validation_rows, read_train_rows, t};
    return RNNC_OK;
}

/* The split report_test evaluates, read by rows: its file, or NULL for
 * the training file's validation_split rows; *by_rows false: in memory. */
static const rnnc_spec_source *eval_split_file(const rnnc_app_session *ses, const rnnc_task_data *d, bool *by_rows)
{
    const rnnc_spec_source *f = d == &ses->test ? &ses->spec->test : &ses->spec->validation_data;
    *by_rows = ses->eval_by_rows && (f->path || (d == &ses->validation && ses->validation_from > 0));
    return f->path ? f : NULL;
}

/* Loss and metrics of the test split, then predictions next to targets. */
static rnnc_status report_test(rnnc_app_session *ses, rnnc_trainer *tr)
{
    const rnnc_task_data *d = ses->test.x ? &ses->test : ses->validation.x ? &ses->validation : NULL;
    if (!d || !d->y)
        return RNNC_OK;
    const char *which = d == &ses->test ? "Test" : "Validation";
    bool by_rows;
    const rnnc_spec_source *file = eval_split_file(ses, d, &by_rows);
    rnnc_logs logs;
    int64_t samples = d->x->shape.dim[0];
    if (by_rows) {
        train_source t;
        rnnc_row_source src = {0, NULL, NULL};
        rnnc_status s = eval_rows_open(ses, file, &t, &src);
        if (!s)
            s = rnnc_trainer_evaluate_source(tr, &src, ses->spec->batch_size, &logs);
        samples = src.n;
        train_source_close(&t);
        RNNC_TRY(s);
    } else {
        RNNC_TRY(rnnc_trainer_evaluate(tr, d->x, d->y, d->sample_weight, ses->spec->batch_size, &logs));
    }
    printf("%s (%lld samples): ", which, (long long)samples);
    print_logs(&logs);
    printf("\n");
    if (!ses->task)
        return RNNC_OK;
    char ref[200];
    printf("Reference, %s\n", rnnc_task_baseline(ses->task, d, ref, sizeof ref));
    /* A few samples: the model's own masking decides; the task mask is for predict users. */
    int64_t n = d->x->shape.dim[0] < 5 ? d->x->shape.dim[0] : 5;
    /* a stateful model takes batches of its own size only: run one, show 5 */
    const int64_t fixed = rnnc_app_stateful_batch(ses->model);
    const int64_t shown = n;
    if (fixed > 0 && fixed <= d->x->shape.dim[0])
        n = fixed;
    rnnc_tensor *xs, *outs[RNNC_MAX_IO];
    int n_outs = 0;
    rnnc_shape s5 = d->x->shape;
    s5.dim[0] = n;
    RNNC_TRY(rnnc_tensor_view(d->x, 0, &s5, &xs));
    rnnc_status s = rnnc_app_forward(ses->model, xs, NULL, NULL, n, outs, &n_outs);
    rnnc_tensor_destroy(xs);
    RNNC_TRY(s);
    /* A Functional model ran through its graph; the task's targets are those of its first output. */
    printf("Predictions on %s samples%s:\n", d == &ses->test ? "test" : "validation",
           n_outs > 1 ? " (the model's first output)" : "");
    rnnc_task_show(ses->task, stdout, d, outs[0], (int)shown);
    for (int k = 0; k < n_outs; k++)
        rnnc_tensor_destroy(outs[k]);
    return RNNC_OK;
}

/* Rank 0 prints how many training rows each rank read from the file. */
static rnnc_status report_rows_read(const train_source *t, rnnc_comm *comm, const char *path)
{
    const int n = rnnc_comm_size(comm);
    double *counts = calloc((size_t)n, sizeof *counts);
    if (!counts)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    counts[rnnc_comm_rank(comm)] = (double)rnnc_dataset_rows_read_so_far(t->rows);
    rnnc_status s = rnnc_comm_allreduce_sum(comm, counts, (size_t)n, RNNC_F64);
    if (s == RNNC_OK) {
        printf("Training rows read from %s by each rank:", path);
        for (int r = 0; r < n; r++)
            printf(" %.0f", counts[r]);
        printf("\n");
    }
    free(counts);
    return s;
}

static int train_ranks(int argc, char **argv, rnnc_comm *comm);

/* On the device the weights reach the host at each epoch's end: a
 * callback that saves inside an epoch (ModelCheckpoint or BackupAndRestore
 * with save_freq N) would save stale ones, so it is refused. */
static rnnc_status batch_saves_refused(const rnnc_cfg *c)
{
    if (!c || (c->type != RNNC_CFG_LIST && c->type != RNNC_CFG_MAP))
        return RNNC_OK;
    for (size_t i = 0; i < c->n; i++) {
        const rnnc_cfg *v = c->items[i];
        if (c->type == RNNC_CFG_MAP && strcmp(c->keys[i], "save_freq") == 0 && v->type == RNNC_CFG_INT) {
            char where[256];
            return rnnc_fail(RNNC_E_UNSUPPORTED, "fit.callbacks: save_freq %lld%s saves inside an epoch, which has no device implementation (the weights reach the host at each epoch's end); use save_freq: epoch",
                             (long long)v->v.i, rnnc_cfg_where(v, where, sizeof where));
        }
        RNNC_TRY(batch_saves_refused(v));
    }
    return RNNC_OK;
}

int rnnc_cmd_train(int argc, char **argv)
{
    rnnc_comm *comm = NULL;
    rnnc_status s = open_ranks(&comm);
    if (s)
        return rnnc_cli_fail(&cmd, s);
    int code = train_ranks(argc, argv, comm);
    if (code != RNNC_EXIT_OK && code < 128 && rnnc_comm_size(comm) > 1) {
        /* the other ranks may be waiting in a collective: stop them all */
        char msg[96];
        snprintf(msg, sizeof msg, "rnnc train failed on this rank (exit %d); stopping every rank", code);
        rnnc_comm_abort(comm, code, msg);
    }
    rnnc_comm_destroy(comm);
    return code;
}

static int train_ranks(int argc, char **argv, rnnc_comm *comm)
{
    const bool rank0 = rnnc_comm_rank(comm) == 0;
    const rnnc_backend_ops *dev = NULL; /* the device path's table, or NULL: the CPU */
    int rc = rnnc_cli_parse(&cmd, argc, argv);
    if (rc >= 0 || (rc = rnnc_cli_device(&cmd, rnnc_cli_get(&cmd, "--device"), &dev)) >= 0)
        return rc;
    const char *spec_path = cmd.pos[0];
    const char *init = rnnc_cli_get(&cmd, "--weights"), *out = rnnc_cli_get(&cmd, "--save-weights");
    const char *resume = rnnc_cli_get(&cmd, "--resume"), *v;
    int64_t epochs_override = -1, seed_override = -1;
    if (((v = rnnc_cli_get(&cmd, "--epochs")) && !rnnc_cli_int(&cmd, "--epochs", v, 1, 1000000, &epochs_override)) ||
        ((v = rnnc_cli_get(&cmd, "--seed")) && !rnnc_cli_int(&cmd, "--seed", v, 0, INT64_MAX, &seed_override)))
        return RNNC_EXIT_USAGE;
    if (init && resume) {
        rnnc_cli_error(&cmd, "give --weights or --resume, not both: a checkpoint already holds the weights");
        return RNNC_EXIT_USAGE;
    }
    const char *out_model = rnnc_cli_get(&cmd, "--save-model");
    if ((out && !check_out_path("--save-weights", out)) || (out_model && !check_out_path("--save-model", out_model)))
        return RNNC_EXIT_USAGE;
    if (!rnnc_cli_need_file(&cmd, "spec", spec_path) || (init && !rnnc_cli_need_file(&cmd, "--weights", init)))
        return RNNC_EXIT_FAIL;
    char resume_path[4200] = "";
    rnnc_status s;
    if (resume && (s = resolve_resume(resume, resume_path, sizeof resume_path)))
        return rnnc_cli_fail(&cmd, s);

    /* Everything is read and checked before the first step. */
    rnnc_app_session ses;
    /* data-parallel: each rank reads its rows of an HDF5 training file */
    const int by_rows = rnnc_comm_size(comm) > 1 ? RNNC_APP_TRAIN_BY_ROWS | RNNC_APP_EVAL_BY_ROWS : 0;
    if ((s = rnnc_app_session_open(spec_path, RNNC_APP_TRAIN | RNNC_APP_VALIDATION | RNNC_APP_TEST | by_rows,
                                   seed_override, &ses)))
        return rnnc_cli_fail(&cmd, s);
    rnnc_training_spec *spec = ses.spec;
    ses.ranks = rnnc_comm_size(comm); /* each rank takes its part of every batch */
    if (!rnnc_cli_get(&cmd, "--device") && (rc = rnnc_cli_spec_device(&cmd, spec->device, &dev)) >= 0) {
        rnnc_app_session_close(&ses);
        return rc;
    }
    if (epochs_override > 0)
        spec->epochs = epochs_override;
    rnnc_trainer *tr = NULL;
    rnnc_train_state ts;
    rnnc_train_state_init(&ts);
    rnnc_history *hist = NULL;
    rnnc_fit_callbacks fc;
    memset(&fc, 0, sizeof fc);
    train_source tsrc;
    memset(&tsrc, 0, sizeof tsrc);
    train_source vrows; /* data-parallel: the validation rows */
    memset(&vrows, 0, sizeof vrows);
    rnnc_row_source vsrc;
    int code = RNNC_EXIT_FAIL;
    if ((s = rnnc_app_compile(&ses, &tr)) || (s = rnnc_trainer_set_comm(tr, comm)))
        goto fail;
    /* the device path: what it cannot run is refused here, before anything is written
     * (the first batches checked again on it: it takes y only of y_pred's shape) */
    if (dev && ((s = batch_saves_refused(spec->callbacks)) || (s = rnnc_trainer_set_device(tr, dev)) ||
                (s = rnnc_app_check_targets(&ses, tr)))) {
        code = rnnc_cli_device_fail(&cmd, rnnc_cli_get(&cmd, "--device"), spec->device, s);
        goto done;
    }
    if (init && (s = rnnc_model_load_weights(ses.model, init)))
        goto fail;
    if ((s = rnnc_train_state_setup(&ts, &ses, tr)) || (s = rnnc_fit_callbacks_build(&fc, &ts)))
        goto fail;
    /* BackupAndRestore: a backup left by an unfinished run is resumed from. */
    if (!resume) {
        bool found = false;
        if ((s = rnnc_fit_callbacks_backup_found(&fc, resume_path, sizeof resume_path, &found)))
            goto fail;
        if (found) {
            if (init) {
                s = rnnc_fail(RNNC_E_ARG, "BackupAndRestore found the backup '%s' of an unfinished run; it holds the weights, so --weights cannot be used (delete the backup to start afresh)",
                              resume_path);
                goto fail;
            }
            resume = resume_path;
            printf("BackupAndRestore: continuing from %s\n", resume_path);
        }
    }
    if (resume && (s = rnnc_train_state_resume(&ts, resume_path, stdout)))
        goto fail;
    /* no compile section, a compiled .keras model: keras.saving.load_model + fit,
     * the saved optimizer's slots and iteration count continue */
    bool restored = false;
    if (!resume && (s = rnnc_app_restore_optimizer(&ses, tr, &restored)))
        goto fail;
    if (restored)
        printf("Continuing the optimizer state saved in %s (%s, iteration %lld), as keras.saving.load_model + fit\n",
               spec->model_path, rnnc_optimizer_class_name(rnnc_trainer_optimizer(tr)),
               (long long)rnnc_optimizer_iterations(rnnc_trainer_optimizer(tr)));
    else if (!resume && ses.compile_from_model)
        printf("Compiled as %s's compile_config (no optimizer state saved in it: the optimizer starts afresh)\n",
               spec->model_path);
    else if (!resume && ses.compile_replaces_model)
        printf("The spec's compile section recompiles %s (as model.compile after keras.saving.load_model): its saved optimizer is not used; without a compile section it would continue\n",
               spec->model_path);
    if (!resume) {
        ts.start_epoch = spec->initial_epoch;
        ts.last_epoch = spec->initial_epoch - 1;
    }
    /* Outputs: none is an input, every folder takes files (before the first step). */
    if ((s = rnnc_check_train_outputs(spec, out, init, resume ? resume_path : NULL)) ||
        (s = rnnc_check_train_output(spec, "--save-model", out_model, init, resume ? resume_path : NULL)))
        goto fail;
    for (int i = 0; i < fc.n_outputs; i++)
        if ((s = rnnc_check_train_output(spec, fc.output_what[i], fc.outputs[i], init, resume ? resume_path : NULL)))
            goto fail;
    /* rank 0 writes them: their folders take files (before the first step) */
    if (rank0 && out_model && (s = check_out_writable("--save-model", out_model)))
        goto fail;
    for (int i = 0; rank0 && i < fc.n_outputs; i++)
        if ((s = check_out_writable(fc.output_what[i], fc.outputs[i])))
            goto fail;
    if (rank0 && ts.history_dir) { /* written after every epoch */
        char hist_json[4200];
        snprintf(hist_json, sizeof hist_json, "%s/history.json", ts.history_dir);
        if ((s = check_out_writable("the history (fit.history)", hist_json)))
            goto fail;
    }
    if (!ses.train.y) {
        s = rnnc_fail(RNNC_E_FORMAT, "%s: the training data has no targets (y)", spec_path);
        goto fail;
    }
    /* Last of the checks: with --overwrite it deletes an earlier run's checkpoints. */
    if (rank0 && (s = rnnc_train_state_claim_dir(&ts, resume != NULL, rnnc_cli_get(&cmd, "--overwrite") != NULL, stdout)))
        goto fail;

    int64_t n_train = ses.train_rows, T = rnnc_app_timesteps(ses.train.x);
    printf("rnnc train %s: model '%s' (%zu parameters), %lld training samples of %lld steps%s%s\n", spec_path,
           ses.model->name, rnnc_model_count_params(ses.model), (long long)n_train, (long long)T,
           ses.task ? ", task " : "", ses.task ? rnnc_task_name(ses.task) : "");
    if (ses.streaming)
        printf("Streaming the training data from %s: reads of %lld rows, shuffled within windows of %lld reads (two windows in memory)\n",
               spec->train.path, (long long)spec->chunk_size, (long long)spec->shuffle_window);
    else if (ses.train_by_rows)
        printf("Each rank reads its rows of every batch from %s\n", spec->train.path);
    if (rnnc_comm_size(comm) > 1)
        printf("Data-parallel on %d ranks: each takes its part of every global batch of %lld\n", rnnc_comm_size(comm),
               (long long)spec->batch_size);
    if (ses.eval_by_rows && spec->validation_data.path && ses.validation.x)
        printf("Each rank reads its rows of every validation batch from %s\n", spec->validation_data.path);
    else if (ses.eval_by_rows && ses.validation_from > 0)
        printf("Each rank reads its rows of every validation batch from %s (its last %lld rows)\n", spec->train.path,
               (long long)ses.validation_rows);
    if (ses.eval_by_rows && spec->test.path && ses.test.x)
        printf("Each rank reads its rows of every test batch from %s\n", spec->test.path);
    if (resume && ts.start_batch > 0)
        printf("Resuming from %s inside epoch %lld, after batch %lld\n", resume_path, (long long)ts.start_epoch + 1,
               (long long)ts.start_batch);
    else if (resume && ts.start_epoch > 0)
        printf("Resuming from %s at epoch %lld\n", resume_path, (long long)ts.start_epoch);
    else if (ts.start_epoch > 0 && ts.start_epoch < spec->epochs) /* fit.initial_epoch, no checkpoint */
        printf("Starting at epoch %lld (fit.initial_epoch %lld)\n", (long long)ts.start_epoch + 1,
               (long long)ts.start_epoch);
    if (ts.start_epoch >= spec->epochs) {
        if (resume)
            printf("Nothing to train: the checkpoint is at epoch %lld and fit.epochs is %lld (raise it with --epochs)\n",
                   (long long)ts.start_epoch, (long long)spec->epochs);
        else /* Keras's fit(initial_epoch >= epochs) trains nothing either */
            printf("Nothing to train: fit.initial_epoch is %lld and fit.epochs is %lld (raise it with --epochs)\n",
                   (long long)ts.start_epoch, (long long)spec->epochs);
    } else {
        rnnc_fit_options fo = rnnc_fit_options_default();
        /* the spec's callbacks, then the history and checkpoints (Keras's
         * History comes after the user's callbacks), then the backup */
        rnnc_callback *cbs[RNNC_FIT_CALLBACKS_MAX + 2];
        int ncb = 0;
        for (int i = 0; i < fc.n; i++)
            cbs[ncb++] = fc.list[i];
        cbs[ncb++] = &ts.callback;
        if (fc.has_backup)
            cbs[ncb++] = &fc.backup_cb;
        /* Data-parallel: rank 0 alone runs the callbacks (files, history,
         * checkpoints); its stop decisions and learning rate reach the
         * others through the trainer. The others only reorder the data
         * as rank 0 does. */
        rnnc_callback order_only = ts.callback; /* the data order of each epoch, no file */
        order_only.on_epoch_end = NULL;
        if (!rank0) {
            cbs[0] = &order_only;
            ncb = 1;
        }
        fo.batch_size = spec->batch_size;
        fo.epochs = (int)spec->epochs;
        fo.initial_epoch = (int)ts.start_epoch;
        fo.pass_origin = (int)rnnc_train_state_pass_origin(&ts);
        fo.initial_batch = ts.start_batch;
        if (ts.start_batch > 0 && (s = rnnc_trainer_set_metric_state(tr, ts.metric_state, ts.n_metric_state)))
            goto fail;
        fo.stop_requested = rnnc_interrupt_requested;
        fo.shuffle = false; /* train_state shuffles, from (seed, epoch) */
        fo.seed = ts.shuffle_seed;
        fo.validation_split = 0.0; /* train_state split it off */
        fo.x_val = ses.validation.x;
        fo.y_val = ses.validation.y;
        fo.sample_weight_val = ses.validation.sample_weight;
        fo.sample_weight = ses.train.sample_weight;
        fo.callbacks = cbs;
        fo.n_callbacks = ncb;
        fo.class_weight = spec->class_weight;
        fo.n_class_weight = spec->n_class_weight;
        fo.validation_freq = (int)spec->validation_freq;
        fo.steps_per_epoch = spec->steps_per_epoch;
        fo.verbose = spec->verbose == 0 ? RNNC_VERBOSE_SILENT : spec->verbose == 2 ? RNNC_VERBOSE_LINES : RNNC_VERBOSE_AUTO;
        /* under mpirun stdout is Open MPI's pseudo-terminal whatever mpirun's own is: one line per epoch */
        if (fo.verbose == RNNC_VERBOSE_AUTO && rnnc_comm_size(comm) > 1)
            fo.verbose = RNNC_VERBOSE_LINES;
        double t0 = rnnc_cli_now();
        rnnc_row_source src = {0, NULL, NULL};
        if (ses.train_by_rows) {
            if ((s = train_source_open(&tsrc, &ses, &ts, &src)))
                goto fail;
            fo.sample_weight = NULL; /* read with the rows */
        }
        bool val_by_rows;
        const rnnc_spec_source *val_file = eval_split_file(&ses, &ses.validation, &val_by_rows);
        if (val_by_rows && ses.validation.x) {
            if ((s = eval_rows_open(&ses, val_file, &vrows, &vsrc)))
                goto fail;
            fo.x_val = fo.y_val = fo.sample_weight_val = NULL;
            fo.val_source = &vsrc;
        }
        rnnc_interrupt_install();
        s = ses.train_by_rows ? rnnc_trainer_fit_source(tr, &src, &fo, &hist)
                              : rnnc_trainer_fit(tr, ses.train.x, ses.train.y, &fo, &hist);
        double secs = rnnc_cli_now() - t0;
        int stop_epoch;
        int64_t stop_batch;
        if (s == RNNC_OK && rnnc_trainer_interrupted(tr, &stop_epoch, &stop_batch)) {
            if (!rank0) {
                code = 128 + rnnc_interrupt_signal();
                goto done;
            }
            int64_t first, count, pass;
            rnnc_fit_epoch_span(ts.steps, spec->steps_per_epoch, stop_epoch - rnnc_train_state_pass_origin(&ts), &first,
                                &count, &pass);
            code = interrupted(&ts, spec_path, stop_epoch, stop_batch, count);
            goto done;
        }
        rnnc_interrupt_restore();
        if (s)
            goto fail;
        int64_t done = ts.last_epoch + 1 - ts.start_epoch;
        int64_t used = ses.train_rows;
        if (tsrc.rows && rnnc_comm_size(comm) > 1 && (s = report_rows_read(&tsrc, comm, spec->train.path)))
            goto fail;
        printf("\nTrained %lld epoch%s in %.1f s (%.2f s/epoch, %.0f time steps/s)\n", (long long)done,
               done == 1 ? "" : "s", secs, done > 0 ? secs / (double)done : 0.0,
               secs > 0 ? (double)(done * used * T) / secs : 0.0);
        printf("Final epoch: ");
        print_logs(&ts.last_logs);
        printf("\n");
    }
    if ((s = report_test(&ses, tr)))
        goto fail;
    if (ts.last_checkpoint[0] && stat(ts.last_checkpoint, &(struct stat){0}) == 0)
        printf("Checkpoint: %s\n", ts.last_checkpoint);
    if (ts.history_dir && ts.last_epoch >= ts.history_first_epoch)
        printf("History: %s/history.csv, %s/history.json\n", ts.history_dir, ts.history_dir);
    if (out && rank0) {
        if ((s = rnnc_train_state_save_weights(&ts, out)))
            goto fail;
        printf("Saved weights: %s\n", out);
    }
    if (out_model && rank0) {
        if ((s = rnnc_train_state_save_keras(&ts, out_model)))
            goto fail;
        printf("Saved model: %s\n", out_model);
    }
    code = RNNC_EXIT_OK;
    goto done;
fail:
    code = rnnc_cli_fail(&cmd, s);
done:
    rnnc_interrupt_restore();
    fflush(stdout);
    rnnc_history_destroy(hist);
    rnnc_fit_callbacks_clear(&fc);
    train_source_close(&tsrc);
    train_source_close(&vrows);
    rnnc_train_state_clear(&ts);
    rnnc_trainer_destroy(tr);
    rnnc_app_session_close(&ses);
    return code;
}
