/* test_checkpoint.c - training checkpoints (io/checkpoint.h): full round
 * trip of weights, optimizer state, counters, generators and history;
 * resuming is bit-for-bit; writes are atomic; keep-last-K rotation; and
 * damaged, foreign or mismatched files fail clearly and change nothing.
 *
 * The training steps are a hand-written loop (forward, mse, backward, Adam)
 * so that these tests depend only on the checkpoint module, not on the
 * trainer. */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hdf5.h>

#include "framework/model.h"
#include "helpers/h5_damage.h"
#include "framework/random.h"
#include "io/checkpoint.h"
#include "io/model_loader.h"
#include "io/spec_reader.h"
#include "io/weights_h5.h"
#include "optim/losses.h"
#include "optim/optimizer.h"

static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rnnc_ckpt_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    if (!d)
        return;
    struct dirent *e;
    char p[600];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
            unlink(p);
        }
    closedir(d);
    rmdir(tmpdir);
}

TestSuite(checkpoint, .init = make_tmpdir, .fini = remove_tmpdir);

static const char *model_yaml(int units)
{
    static char buf[600];
    snprintf(buf, sizeof buf,
             "class_name: Sequential\n"
             "config:\n"
             "  name: tiny\n"
             "  layers:\n"
             "    - {class_name: InputLayer, config: {batch_shape: [null, 5, 3]}}\n"
             "    - {class_name: GRU, config: {name: gru, units: %d}}\n"
             "    - {class_name: Dense, config: {name: dense, units: 1}}\n",
             units);
    return buf;
}

/* A fresh model; `seed` seeds the initialisers, so different seeds give
 * different starting weights. */
static rnnc_model *make_model(int units, uint64_t seed)
{
    rnnc_cfg *c;
    rnnc_model *m;
    const char *y = model_yaml(units);
    rnnc_set_random_seed(seed);
    rnnc_layer_reset_names();
    cr_assert_eq(rnnc_spec_read_string(y, strlen(y), "tiny.yaml", &c), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_model_from_config(c, NULL, &m), RNNC_OK, "%s", rnnc_last_error());
    rnnc_cfg_destroy(c);
    if (!m->built)
        cr_assert_eq(rnnc_model_build(m, &m->input_shape), RNNC_OK, "%s", rnnc_last_error());
    return m;
}

static rnnc_optimizer *make_adam(void)
{
    const char *y = "{class_name: Adam, config: {learning_rate: 0.05}}";
    rnnc_cfg *c;
    rnnc_optimizer *o;
    cr_assert_eq(rnnc_spec_read_string(y, strlen(y), "opt", &c), RNNC_OK);
    cr_assert_eq(rnnc_optimizer_from_config(c, "optimizer", &o), RNNC_OK, "%s", rnnc_last_error());
    rnnc_cfg_destroy(c);
    return o;
}

/* Deterministic data: batch `b` of 4 samples. */
static void batch(int b, rnnc_tensor **x, rnnc_tensor **y)
{
    rnnc_rng r;
    double v[4 * 5 * 3];
    rnnc_rng_init(&r, 1000 + (uint64_t)b);
    rnnc_rng_normal(&r, v, 60);
    rnnc_shape xs = RNNC_SHAPE(4, 5, 3), ys = RNNC_SHAPE(4, 1);
    cr_assert_eq(rnnc_tensor_create(RNNC_F32, &xs, x), RNNC_OK);
    cr_assert_eq(rnnc_tensor_create(RNNC_F32, &ys, y), RNNC_OK);
    for (int i = 0; i < 60; i++)
        rnnc_f32(*x)[i] = (float)v[i];
    for (int i = 0; i < 4; i++)
        rnnc_f32(*y)[i] = (float)(v[i * 15] + v[i * 15 + 14]);
}

/* Training steps [from, to): forward, mse, backward, Adam. */
static void train_steps(rnnc_model *m, rnnc_optimizer *o, int from, int to)
{
    rnnc_loss *loss;
    cr_assert_eq(rnnc_loss_from_name("mse", &loss), RNNC_OK);
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_weight *w[64];
    int nw;
    cr_assert_eq(rnnc_model_weights(m, w, 64, &nw), RNNC_OK);
    for (int step = from; step < to; step++) {
        rnnc_tensor *x, *y, *l;
        rnnc_call_result r;
        batch(step, &x, &y);
        rnnc_model_zero_grad(m);
        rnnc_call_args a = {.n_inputs = 1, .inputs = {x}, .training = true};
        cr_assert_eq(rnnc_model_call(m, cx, &a, &r), RNNC_OK, "%s", rnnc_last_error());
        cr_assert_eq(rnnc_loss_call(loss, cx, y, r.outputs[0], NULL, NULL, &l), RNNC_OK, "%s", rnnc_last_error());
        cr_assert_eq(rnnc_backward(cx, l), RNNC_OK, "%s", rnnc_last_error());
        cr_assert_eq(rnnc_optimizer_apply(o, w, nw), RNNC_OK, "%s", rnnc_last_error());
        rnnc_ctx_clear(cx);
        rnnc_tensor_destroy(x);
        rnnc_tensor_destroy(y);
    }
    rnnc_ctx_destroy(cx);
    rnnc_loss_destroy(loss);
}

/* Whether two models hold bit-identical weights. */
static bool same_weights(const rnnc_model *a, const rnnc_model *b)
{
    rnnc_weight *wa[64], *wb[64];
    int na, nb;
    cr_assert_eq(rnnc_model_weights(a, wa, 64, &na), RNNC_OK);
    cr_assert_eq(rnnc_model_weights(b, wb, 64, &nb), RNNC_OK);
    if (na != nb)
        return false;
    for (int i = 0; i < na; i++)
        if (wa[i]->value->numel != wb[i]->value->numel ||
            memcmp(wa[i]->value->data, wb[i]->value->data, wa[i]->value->numel * sizeof(float)) != 0)
            return false;
    return true;
}

static rnnc_tensor *copy_first_weight(const rnnc_model *m)
{
    rnnc_weight *w[64];
    int n;
    rnnc_tensor *t;
    cr_assert_eq(rnnc_model_weights(m, w, 64, &n), RNNC_OK);
    cr_assert_eq(rnnc_tensor_clone(w[0]->value, &t), RNNC_OK);
    return t;
}

static bool first_weight_is(const rnnc_model *m, const rnnc_tensor *t)
{
    rnnc_weight *w[64];
    int n;
    cr_assert_eq(rnnc_model_weights(m, w, 64, &n), RNNC_OK);
    return memcmp(w[0]->value->data, t->data, t->numel * sizeof(float)) == 0;
}

static void fill_state(rnnc_checkpoint_state *st, int64_t epoch, int64_t step)
{
    memset(st, 0, sizeof *st);
    st->epoch = epoch;
    st->step = step;
    rnnc_rng r = {.seed = 0xFFFFFFFFFFFFFFF1ull, .counter = 77};
    cr_assert_eq(rnnc_checkpoint_state_set_rng(st, "shuffle", &r), RNNC_OK);
    st->history = rnnc_cfg_map();
    rnnc_cfg *loss = rnnc_cfg_list();
    for (int i = 0; i < epoch; i++)
        cr_assert_eq(rnnc_cfg_push(loss, rnnc_cfg_float(1.0 / (i + 1))), RNNC_OK);
    cr_assert_eq(rnnc_cfg_set(st->history, "loss", loss), RNNC_OK);
    st->model_config = strdup("{\"class_name\": \"Sequential\"}");
}

static char *path_in(const char *name)
{
    static char p[2][600];
    static int k;
    k ^= 1;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
    return p[k];
}

static size_t file_bytes(const char *path, unsigned char **data)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *data = malloc((size_t)n + 1);
    cr_assert_eq(fread(*data, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return (size_t)n;
}

static int count_files(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

Test(checkpoint, round_trip_restores_weights_optimizer_and_state)
{
    rnnc_model *m = make_model(4, 1);
    rnnc_optimizer *o = make_adam();
    train_steps(m, o, 0, 3);
    rnnc_checkpoint_state st;
    fill_state(&st, 3, 3);
    const char *p = path_in("a.weights.h5");
    cr_assert_eq(rnnc_checkpoint_save(p, m, o, &st), RNNC_OK, "%s", rnnc_last_error());

    rnnc_model *m2 = make_model(4, 99);
    rnnc_optimizer *o2 = make_adam();
    cr_assert_not(same_weights(m, m2), "different seeds must start from different weights");
    rnnc_checkpoint_state got = {0};
    cr_assert_eq(rnnc_checkpoint_load(p, m2, o2, &got), RNNC_OK, "%s", rnnc_last_error());
    cr_expect(same_weights(m, m2));
    cr_expect_eq(rnnc_optimizer_iterations(o2), 3);
    cr_expect_eq(got.epoch, 3);
    cr_expect_eq(got.step, 3);
    const rnnc_rng *r = rnnc_checkpoint_state_rng(&got, "shuffle");
    cr_assert_not_null(r);
    cr_expect_eq(r->seed, 0xFFFFFFFFFFFFFFF1ull);
    cr_expect_eq(r->counter, 77u);
    const rnnc_cfg *h = rnnc_cfg_peek(got.history, "loss");
    cr_assert_not_null(h);
    cr_assert_eq(h->n, 3u);
    cr_expect_float_eq(h->items[2]->v.f, 1.0 / 3, 1e-15);
    cr_expect_str_eq(got.model_config, "{\"class_name\": \"Sequential\"}");

    /* Optimizer slots too: every variable equal. */
    rnnc_optimizer_variable va[64], vb[64];
    int na, nb;
    cr_assert_eq(rnnc_optimizer_variables(o, va, 64, &na), RNNC_OK);
    cr_assert_eq(rnnc_optimizer_variables(o2, vb, 64, &nb), RNNC_OK);
    cr_assert_eq(na, nb);
    cr_assert_gt(na, 2, "Adam must have slots after training");
    for (int i = 0; i < na; i++)
        cr_expect_eq(memcmp(va[i].value->data, vb[i].value->data,
                            va[i].value->numel * rnnc_dtype_size(va[i].value->dtype)), 0,
                     "optimizer variable %d (%s) differs", i, va[i].name);
    /* And Keras's loader path sees an ordinary weights file. */
    rnnc_model *m3 = make_model(4, 5);
    cr_expect_eq(rnnc_weights_load(m3, p), RNNC_OK, "%s", rnnc_last_error());
    cr_expect(same_weights(m, m3));

    rnnc_checkpoint_state_clear(&st);
    rnnc_checkpoint_state_clear(&got);
    rnnc_model_destroy(m);
    rnnc_model_destroy(m2);
    rnnc_model_destroy(m3);
    rnnc_optimizer_destroy(o);
    rnnc_optimizer_destroy(o2);
}

Test(checkpoint, resume_is_bit_for_bit)
{
    /* Straight: 8 steps. */
    rnnc_model *a = make_model(4, 1);
    rnnc_optimizer *oa = make_adam();
    train_steps(a, oa, 0, 8);

    /* 3 steps, checkpoint, then a new process' worth of objects resumes. */
    rnnc_model *b = make_model(4, 1);
    rnnc_optimizer *ob = make_adam();
    train_steps(b, ob, 0, 3);
    rnnc_checkpoint_state st;
    fill_state(&st, 3, 3);
    const char *p = path_in("mid.weights.h5");
    cr_assert_eq(rnnc_checkpoint_save(p, b, ob, &st), RNNC_OK, "%s", rnnc_last_error());
    rnnc_model_destroy(b);
    rnnc_optimizer_destroy(ob);

    rnnc_model *c = make_model(4, 12345);
    rnnc_optimizer *oc = make_adam();
    rnnc_checkpoint_state got = {0};
    cr_assert_eq(rnnc_checkpoint_load(p, c, oc, &got), RNNC_OK, "%s", rnnc_last_error());
    train_steps(c, oc, (int)got.step, 8);
    cr_expect(same_weights(a, c), "k steps + resume must equal the straight run bit for bit");

    /* The control: resuming the weights without the optimizer state differs,
     * so the comparison above can fail. */
    rnnc_model *d = make_model(4, 12345);
    rnnc_optimizer *od = make_adam();
    cr_assert_eq(rnnc_weights_load(d, p), RNNC_OK, "%s", rnnc_last_error());
    train_steps(d, od, 3, 8);
    cr_expect_not(same_weights(a, d), "fresh Adam moments must change the result");

    rnnc_checkpoint_state_clear(&st);
    rnnc_checkpoint_state_clear(&got);
    rnnc_model_destroy(a);
    rnnc_model_destroy(c);
    rnnc_model_destroy(d);
    rnnc_optimizer_destroy(oa);
    rnnc_optimizer_destroy(oc);
    rnnc_optimizer_destroy(od);
}

Test(checkpoint, failed_write_keeps_previous_file_and_leaves_no_temporary)
{
    rnnc_model *m = make_model(4, 1);
    rnnc_optimizer *o = make_adam();
    train_steps(m, o, 0, 2);
    rnnc_checkpoint_state st;
    fill_state(&st, 2, 2);
    const char *p = path_in("ckpt-000002.weights.h5");
    cr_assert_eq(rnnc_checkpoint_save(p, m, o, &st), RNNC_OK, "%s", rnnc_last_error());
    unsigned char *before, *after;
    size_t nb = file_bytes(p, &before);

    /* A save that fails half-way (after the weights are written: a history
     * entry that is not a list) must not touch the file. */
    train_steps(m, o, 2, 3);
    rnnc_cfg_set(st.history, "broken", rnnc_cfg_string("not a list"));
    cr_assert_neq(rnnc_checkpoint_save(p, m, o, &st), RNNC_OK);
    cr_expect(strstr(rnnc_last_error(), "broken") != NULL, "message: %s", rnnc_last_error());
    size_t na = file_bytes(p, &after);
    cr_expect_eq(na, nb);
    cr_expect_eq(memcmp(before, after, nb), 0, "the previous checkpoint changed");
    cr_expect_eq(count_files(), 1, "a temporary file was left behind");

    /* A directory that does not exist: clear message, nothing written. */
    cr_assert_neq(rnnc_checkpoint_save(path_in("nope/x.weights.h5"), m, o, &st), RNNC_OK);
    cr_expect(strstr(rnnc_last_error(), "nope") != NULL, "message: %s", rnnc_last_error());

    free(before);
    free(after);
    rnnc_checkpoint_state_clear(&st);
    rnnc_model_destroy(m);
    rnnc_optimizer_destroy(o);
}

Test(checkpoint, rotation_keeps_the_newest_k)
{
    rnnc_model *m = make_model(4, 1);
    rnnc_optimizer *o = make_adam();
    char p[700];
    for (int e = 1; e <= 5; e++) {
        rnnc_checkpoint_state st;
        fill_state(&st, e, e);
        cr_assert_eq(rnnc_checkpoint_save(rnnc_checkpoint_filename(tmpdir, e, p, sizeof p), m, o, &st), RNNC_OK,
                     "%s", rnnc_last_error());
        rnnc_checkpoint_state_clear(&st);
    }
    /* Files that only look similar are never deleted. */
    FILE *f = fopen(path_in("ckpt-1.weights.h5"), "w");
    fclose(f);
    f = fopen(path_in("notes.txt"), "w");
    fclose(f);
    /* Rotation deletes only the run's own files: epoch 2 is another run's. */
    rnnc_checkpoint_pos own[4] = {{5, 0}, {1, 0}, {4, 0}, {3, 0}};
    size_t n_own = 4;
    cr_assert_eq(rnnc_checkpoint_rotate(tmpdir, 2, own, &n_own), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_eq(n_own, 2u);
    cr_expect(own[0].epoch == 4 && own[1].epoch == 5, "left %lld, %lld", (long long)own[0].epoch,
              (long long)own[1].epoch);
    struct stat sb;
    for (int e = 1; e <= 5; e++)
        cr_expect_eq(stat(rnnc_checkpoint_filename(tmpdir, e, p, sizeof p), &sb) == 0, e == 2 || e >= 4, "epoch %d", e);
    cr_expect_eq(stat(path_in("ckpt-1.weights.h5"), &sb), 0);
    cr_expect_eq(stat(path_in("notes.txt"), &sb), 0);
    bool found;
    char latest[700];
    cr_assert_eq(rnnc_checkpoint_latest(tmpdir, latest, sizeof latest, &found), RNNC_OK);
    cr_assert(found);
    cr_expect_str_eq(latest, rnnc_checkpoint_filename(tmpdir, 5, p, sizeof p));
    cr_expect_eq(rnnc_checkpoint_rotate(tmpdir, 0, own, &n_own), RNNC_E_ARG);

    /* A checkpoint taken inside epoch 6 (5 epochs and 3 batches done) is newer than epoch 5's. */
    rnnc_checkpoint_pos mid = {5, 3};
    cr_expect_str_eq(rnnc_checkpoint_filename_at(tmpdir, mid, p, sizeof p) + strlen(tmpdir),
                     "/ckpt-000005-batch000003.weights.h5");
    f = fopen(p, "w");
    fclose(f);
    cr_assert_eq(rnnc_checkpoint_latest(tmpdir, latest, sizeof latest, &found), RNNC_OK);
    cr_expect_str_eq(latest, p);
    rnnc_checkpoint_pos got;
    cr_expect(rnnc_checkpoint_parse_name("ckpt-000012-batch000007.weights.h5", &got) && got.epoch == 12 &&
              got.batch == 7);
    const char *not_names[] = {"ckpt-12.weights.h5", "ckpt-000012-batch000000.weights.h5",
                               "ckpt-000012-batch7.weights.h5", "ckpt-000012-batch.weights.h5",
                               "ckpt-000012.weights.h5.tmp.1.2", "ckpt-000012-batch000007.h5", NULL};
    for (int i = 0; not_names[i]; i++)
        cr_expect_not(rnnc_checkpoint_parse_name(not_names[i], &got), "%s", not_names[i]);
    rnnc_model_destroy(m);
    rnnc_optimizer_destroy(o);
}

Test(checkpoint, truncated_file_fails_clearly_and_changes_nothing)
{
    rnnc_model *m = make_model(4, 1);
    rnnc_optimizer *o = make_adam();
    train_steps(m, o, 0, 2);
    rnnc_checkpoint_state st;
    fill_state(&st, 2, 2);
    const char *good = path_in("good.weights.h5");
    cr_assert_eq(rnnc_checkpoint_save(good, m, o, &st), RNNC_OK, "%s", rnnc_last_error());
    unsigned char *bytes;
    size_t n = file_bytes(good, &bytes);
    const char *bad = path_in("bad.weights.h5");
    FILE *f = fopen(bad, "wb");
    fwrite(bytes, 1, n / 2, f);
    fclose(f);

    rnnc_model *fresh = make_model(4, 42);
    rnnc_optimizer *ofresh = make_adam();
    rnnc_tensor *w0 = copy_first_weight(fresh);
    rnnc_checkpoint_state got = {0};
    cr_assert_neq(rnnc_checkpoint_load(bad, fresh, ofresh, &got), RNNC_OK);
    cr_expect(strstr(rnnc_last_error(), "bad.weights.h5") != NULL, "message names the file: %s", rnnc_last_error());
    cr_expect(first_weight_is(fresh, w0), "a failed load changed the model");
    cr_expect_eq(rnnc_optimizer_iterations(ofresh), 0);
    unsigned char *again;
    cr_assert_eq(file_bytes(good, &again), n);
    cr_expect_eq(memcmp(bytes, again, n), 0);

    /* Garbage and an empty file. */
    f = fopen(bad, "wb");
    fputs("this is not HDF5 at all", f);
    fclose(f);
    cr_expect_neq(rnnc_checkpoint_load(bad, fresh, ofresh, &got), RNNC_OK);
    f = fopen(bad, "wb");
    fclose(f);
    cr_expect_neq(rnnc_checkpoint_load(bad, fresh, ofresh, &got), RNNC_OK);
    cr_expect(strstr(rnnc_last_error(), "bad.weights.h5") != NULL, "%s", rnnc_last_error());
    cr_expect_neq(rnnc_checkpoint_load(path_in("missing.weights.h5"), fresh, ofresh, &got), RNNC_OK);
    cr_expect(first_weight_is(fresh, w0));

    free(bytes);
    free(again);
    rnnc_tensor_destroy(w0);
    rnnc_checkpoint_state_clear(&st);
    rnnc_model_destroy(m);
    rnnc_model_destroy(fresh);
    rnnc_optimizer_destroy(o);
    rnnc_optimizer_destroy(ofresh);
}

Test(checkpoint, foreign_or_mismatched_files_are_refused)
{
    rnnc_model *m = make_model(4, 1);
    rnnc_optimizer *o = make_adam();
    train_steps(m, o, 0, 1);
    /* A plain weights file is not a checkpoint. */
    const char *plain = path_in("plain.weights.h5");
    cr_assert_eq(rnnc_weights_save(m, plain, NULL, 0, NULL), RNNC_OK, "%s", rnnc_last_error());
    rnnc_checkpoint_state got = {0};
    cr_assert_neq(rnnc_checkpoint_load(plain, m, o, &got), RNNC_OK);
    cr_expect(strstr(rnnc_last_error(), "not an rnnc checkpoint") != NULL, "%s", rnnc_last_error());
    cr_expect_not(rnnc_checkpoint_sniff(plain));

    /* A checkpoint of a GRU(4) model does not load into a GRU(5) model. */
    rnnc_checkpoint_state st;
    fill_state(&st, 1, 1);
    const char *p = path_in("four.weights.h5");
    cr_assert_eq(rnnc_checkpoint_save(p, m, o, &st), RNNC_OK, "%s", rnnc_last_error());
    cr_expect(rnnc_checkpoint_sniff(p));
    rnnc_model *five = make_model(5, 1);
    rnnc_optimizer *o5 = make_adam();
    rnnc_tensor *w0 = copy_first_weight(five);
    cr_assert_neq(rnnc_checkpoint_load(p, five, o5, &got), RNNC_OK);
    cr_expect(strstr(rnnc_last_error(), "four.weights.h5") != NULL, "%s", rnnc_last_error());
    cr_expect(first_weight_is(five, w0));

    /* Bad generator names are refused before anything is written. */
    rnnc_rng r = {1, 2};
    cr_expect_eq(rnnc_checkpoint_state_set_rng(&st, "a/b", &r), RNNC_E_ARG);
    cr_expect_eq(rnnc_checkpoint_state_set_rng(&st, "", &r), RNNC_E_ARG);

    rnnc_tensor_destroy(w0);
    rnnc_checkpoint_state_clear(&st);
    rnnc_model_destroy(m);
    rnnc_model_destroy(five);
    rnnc_optimizer_destroy(o);
    rnnc_optimizer_destroy(o5);
}

Test(checkpoint, stale_temporaries_of_dead_writers_are_removed)
{
    pid_t child = fork();
    cr_assert_neq(child, -1);
    if (child == 0)
        _exit(0);
    waitpid(child, NULL, 0); /* now a pid that no longer runs */
    char dead[300], dead_tmp[300], live[300];
    snprintf(dead, sizeof dead, "ckpt-000003.weights.h5.partial.%ld.0", (long)child);
    snprintf(dead_tmp, sizeof dead_tmp, "ckpt-000003.weights.h5.partial.%ld.0.tmp.%ld.1", (long)child, (long)child);
    snprintf(live, sizeof live, "ckpt-000004.weights.h5.partial.%ld.0", (long)getpid());
    const char *names[] = {dead, dead_tmp, live, "ckpt-000002.weights.h5", "mine.partial.1.2", "notes.txt"};
    for (size_t i = 0; i < 6; i++) {
        FILE *f = fopen(path_in(names[i]), "w");
        fclose(f);
    }
    int removed = -1;
    cr_assert_eq(rnnc_checkpoint_clean_stale(tmpdir, &removed), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_eq(removed, 2);
    struct stat sb;
    cr_expect_neq(stat(path_in(dead), &sb), 0);
    cr_expect_neq(stat(path_in(dead_tmp), &sb), 0);
    for (size_t i = 2; i < 6; i++)
        cr_expect_eq(stat(path_in(names[i]), &sb), 0, "%s was removed", names[i]);
    cr_expect_neq(rnnc_checkpoint_clean_stale(path_in("no_such_dir"), NULL), RNNC_OK);
}

/* ---- strings: fixed-length only, so damage never reaches the global heap ---- */

/* Replaces /rnnc_checkpoint/<name> (a dataset, or with attr the attribute
 * `format` of the group) by a variable-length string, as rnnc once wrote it. */
static void make_variable_length(const char *path, const char *name, bool attr)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    cr_assert(f >= 0);
    hid_t g = H5Gopen2(f, "rnnc_checkpoint", H5P_DEFAULT);
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    const char *value = attr ? "rnnc-checkpoint" : "{\"class_name\": \"Sequential\"}";
    if (attr) {
        cr_assert(H5Adelete(g, name) >= 0);
        hid_t a = H5Acreate2(g, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
        cr_assert(a >= 0 && H5Awrite(a, t, &value) >= 0);
        H5Aclose(a);
    } else {
        cr_assert(H5Ldelete(g, name, H5P_DEFAULT) >= 0);
        hid_t d = H5Dcreate2(g, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        cr_assert(d >= 0 && H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &value) >= 0);
        H5Dclose(d);
    }
    H5Sclose(sp);
    H5Tclose(t);
    H5Gclose(g);
    H5Fclose(f);
}

/* The class, and whether variable-length, of a dataset's type. */
static void string_kind(const char *path, const char *name, H5T_class_t *cls, htri_t *vlen)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    hid_t t = H5Dget_type(d);
    *cls = H5Tget_class(t);
    *vlen = H5Tis_variable_str(t);
    H5Tclose(t);
    H5Dclose(d);
    H5Fclose(f);
}

/* A model and Adam after one step, the state of epoch 1 with all three
 * strings, saved as tmpdir/<name>; returns its path. */
static const char *saved_after_one_step(const char *name, rnnc_model **m, rnnc_optimizer **o,
                                        rnnc_checkpoint_state *st)
{
    *m = make_model(4, 1);
    *o = make_adam();
    train_steps(*m, *o, 0, 1);
    fill_state(st, 1, 1);
    st->optimizer_config = strdup("{\"class_name\": \"Adam\"}");
    st->training_spec = strdup("");
    const char *p = path_in(name);
    cr_assert_eq(rnnc_checkpoint_save(p, *m, *o, st), RNNC_OK, "%s", rnnc_last_error());
    return p;
}

Test(checkpoint, strings_are_fixed_length_and_variable_length_ones_are_refused)
{
    rnnc_model *m;
    rnnc_optimizer *o;
    rnnc_checkpoint_state st;
    const char *p = saved_after_one_step("s.weights.h5", &m, &o, &st);
    /* On disk (read with HDF5 itself): fixed-length strings. */
    const char *names[] = {"/rnnc_checkpoint/model_config", "/rnnc_checkpoint/optimizer_config",
                           "/rnnc_checkpoint/training_spec"};
    for (int i = 0; i < 3; i++) {
        H5T_class_t cls;
        htri_t vlen;
        string_kind(p, names[i], &cls, &vlen);
        cr_expect(cls == H5T_STRING && vlen == 0, "%s: class %d, variable-length %d", names[i], (int)cls, (int)vlen);
    }
    rnnc_checkpoint_state got = {0};
    cr_assert_eq(rnnc_checkpoint_read_state(p, &got), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_str_eq(got.model_config, st.model_config);
    cr_expect_str_eq(got.optimizer_config, st.optimizer_config);
    cr_expect_str_eq(got.training_spec, "");
    rnnc_checkpoint_state_clear(&got);

    /* A variable-length string in the group is refused, naming it. */
    const char *what[] = {"model_config", "optimizer_config", "format"};
    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof name, "v%d.weights.h5", i);
        const char *v = path_in(name);
        cr_assert_eq(rnnc_checkpoint_save(v, m, o, &st), RNNC_OK, "%s", rnnc_last_error());
        make_variable_length(v, what[i], i == 2);
        rnnc_model *fresh = make_model(4, 42);
        rnnc_tensor *w0 = copy_first_weight(fresh);
        cr_expect_eq(rnnc_checkpoint_read_state(v, &got), RNNC_E_FORMAT, "%s: accepted", what[i]);
        cr_expect(strstr(rnnc_last_error(), "variable-length") && strstr(rnnc_last_error(), what[i]) &&
                      strstr(rnnc_last_error(), name),
                  "%s: %s", what[i], rnnc_last_error());
        cr_expect_neq(rnnc_checkpoint_load(v, fresh, NULL, &got), RNNC_OK);
        cr_expect(first_weight_is(fresh, w0), "a refused checkpoint changed the model");
        rnnc_tensor_destroy(w0);
        rnnc_model_destroy(fresh);
    }
    rnnc_checkpoint_state_clear(&st);
    rnnc_model_destroy(m);
    rnnc_optimizer_destroy(o);
}

/* Offset of needle in hay, or -1. */
static long find_bytes(const unsigned char *hay, size_t n, const void *needle, size_t k, size_t from)
{
    for (size_t i = from; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return (long)i;
    return -1;
}

/* Flips byte i of the file (a copy of bytes at path) and reads the state,
 * which must still be the saved one: rnnc never reads these bytes' meaning
 * (global heap) or reads them only as text. */
static void flip_and_read(const char *path, const unsigned char *bytes, size_t n, size_t i,
                          const rnnc_checkpoint_state *saved, bool text)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fwrite(bytes, 1, i, f);
    fputc(bytes[i] ^ 0xA5, f);
    fwrite(bytes + i + 1, 1, n - i - 1, f);
    fclose(f);
    rnnc_checkpoint_state got = {0};
    rnnc_status s = rnnc_checkpoint_read_state(path, &got);
    cr_expect_eq(s, RNNC_OK, "byte %zu: %s", i, rnnc_last_error());
    if (s == RNNC_OK) {
        cr_expect_eq(got.epoch, saved->epoch);
        cr_expect_eq(strlen(got.model_config), strlen(saved->model_config), "byte %zu", i);
        if (!text)
            cr_expect_str_eq(got.model_config, saved->model_config, "byte %zu", i);
    }
    rnnc_checkpoint_state_clear(&got);
    /* Nothing of the file stays open in HDF5. */
    ssize_t open_ids = H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL);
    cr_assert_eq(open_ids, 0, "byte %zu: %zd HDF5 objects left open", i, open_ids);
}

Test(checkpoint, damaged_strings_or_global_heap_fail_cleanly)
{
    rnnc_model *m;
    rnnc_optimizer *o;
    rnnc_checkpoint_state st;
    const char *good = saved_after_one_step("good.weights.h5", &m, &o, &st);
    unsigned char *bytes;
    size_t n = file_bytes(good, &bytes);
    const char *bad = path_in("damaged.weights.h5");
    /* The global heap (Keras's `name` attributes live there; rnnc's own
     * strings do not): the size of each of its objects, which made HDF5
     * 1.10 crash or hang when a checkpoint's strings were stored there. */
    size_t offs[256];
    size_t k = rnnc_test_gheap_size_bytes(bytes, n, offs, 256);
    cr_assert_gt(k, 0, "the checkpoint has no global heap to damage");
    for (size_t i = 0; i < k; i++)
        flip_and_read(bad, bytes, n, offs[i], &st, false);
    /* model_config's own bytes: inline, read as they are. */
    long text = find_bytes(bytes, n, st.model_config, strlen(st.model_config), 0);
    cr_assert_geq(text, 0, "model_config's text is not stored inline as fixed-length bytes");
    for (size_t i = 0; i < strlen(st.model_config); i++)
        flip_and_read(bad, bytes, n, (size_t)text + i, &st, true);
    /* A declared length the file cannot hold (1 GiB, nothing stored) is
     * refused before anything is allocated or read. */
    hid_t f = H5Fopen(good, H5F_ACC_RDWR, H5P_DEFAULT);
    cr_assert(f >= 0 && H5Ldelete(f, "/rnnc_checkpoint/model_config", H5P_DEFAULT) >= 0);
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR);
    H5Tset_size(t, (size_t)1 << 30);
    hid_t d = H5Dcreate2(f, "/rnnc_checkpoint/model_config", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert(d >= 0);
    H5Dclose(d);
    H5Sclose(sp);
    H5Tclose(t);
    H5Fclose(f);
    rnnc_checkpoint_state got = {0};
    cr_expect_eq(rnnc_checkpoint_read_state(good, &got), RNNC_E_FORMAT);
    cr_expect(strstr(rnnc_last_error(), "1073741824 bytes") && strstr(rnnc_last_error(), "model_config") &&
                  strstr(rnnc_last_error(), "good.weights.h5"),
              "%s", rnnc_last_error());
    rnnc_checkpoint_state_clear(&got);
    free(bytes);
    rnnc_checkpoint_state_clear(&st);
    rnnc_model_destroy(m);
    rnnc_optimizer_destroy(o);
}
