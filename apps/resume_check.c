/* resume_check.c - what differs between a checkpoint's setup and this
 * run's, and which differences may carry on (resume_check.h). */
#include "apps/resume_check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/json_writer.h"
#include "io/spec_reader.h"

#define MAX_DIFFS 64

typedef struct diffs {
    int n, total;
    char path[MAX_DIFFS][256];
    char line[MAX_DIFFS][600]; /* "checkpoint X, spec Y" */
} diffs;

/* A node as compact JSON, cut to fit; "(not set)" for NULL. */
static void render(const rnnc_cfg *c, char *buf, size_t cap)
{
    char *j = NULL;
    if (!c) {
        snprintf(buf, cap, "(not set)");
        return;
    }
    /* A float32 value (an optimizer's learning rate) as its shortest float spelling. */
    if (c->type == RNNC_CFG_FLOAT && isfinite(c->v.f) && (double)(float)c->v.f == c->v.f) {
        for (int p = 1; p <= 9; p++) {
            snprintf(buf, cap, "%.*g", p, c->v.f);
            if ((float)strtod(buf, NULL) == (float)c->v.f)
                break;
        }
        return;
    }
    if (rnnc_json_write(c, -1, &j) != RNNC_OK || !j) {
        rnnc_clear_error();
        snprintf(buf, cap, "?");
        free(j);
        return;
    }
    if (strlen(j) > 120)
        snprintf(buf, cap, "%.117s...", j);
    else
        snprintf(buf, cap, "%s", j);
    free(j);
}

static void add(diffs *d, const char *path, const rnnc_cfg *a, const rnnc_cfg *b)
{
    d->total++;
    if (d->n >= MAX_DIFFS)
        return;
    char va[200], vb[200];
    render(a, va, sizeof va);
    render(b, vb, sizeof vb);
    snprintf(d->path[d->n], sizeof d->path[0], "%s", path);
    snprintf(d->line[d->n], sizeof d->line[0], "checkpoint %s, spec %s", va, vb);
    d->n++;
}

static bool is_num(const rnnc_cfg *c) { return c->type == RNNC_CFG_INT || c->type == RNNC_CFG_FLOAT; }
static double num(const rnnc_cfg *c) { return c->type == RNNC_CFG_INT ? (double)c->v.i : c->v.f; }

static bool same_scalar(const rnnc_cfg *a, const rnnc_cfg *b)
{
    if (is_num(a) && is_num(b))
        return num(a) == num(b) || (isnan(num(a)) && isnan(num(b)));
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case RNNC_CFG_NULL: return true;
    case RNNC_CFG_BOOL: return a->v.b == b->v.b;
    case RNNC_CFG_STRING: return strcmp(a->v.s, b->v.s) == 0;
    default: return false;
    }
}

static const rnnc_cfg *map_get(const rnnc_cfg *m, const char *key)
{
    for (size_t i = 0; m && i < m->n; i++)
        if (strcmp(m->keys[i], key) == 0)
            return m->items[i];
    return NULL;
}

static bool skipped(const char *path, const char *const *skip)
{
    for (int i = 0; skip && skip[i]; i++)
        if (strcmp(path, skip[i]) == 0)
            return true;
    return false;
}

/* Every difference between a (the checkpoint's) and b (this run's) under path. */
static void diff(const rnnc_cfg *a, const rnnc_cfg *b, const char *path, const char *const *skip, diffs *d)
{
    char sub[256];
    if (skipped(path, skip))
        return;
    if (!a || !b) {
        if (a != b)
            add(d, path, a, b);
        return;
    }
    if (a->type == RNNC_CFG_MAP && b->type == RNNC_CFG_MAP) {
        for (size_t i = 0; i < a->n; i++) {
            snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", a->keys[i]);
            diff(a->items[i], map_get(b, a->keys[i]), sub, skip, d);
        }
        for (size_t i = 0; i < b->n; i++)
            if (!map_get(a, b->keys[i])) {
                snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", b->keys[i]);
                diff(NULL, b->items[i], sub, skip, d);
            }
        return;
    }
    if (a->type == RNNC_CFG_LIST && b->type == RNNC_CFG_LIST && a->n == b->n) {
        for (size_t i = 0; i < a->n; i++) {
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            diff(a->items[i], b->items[i], sub, skip, d);
        }
        return;
    }
    if (a->type == RNNC_CFG_LIST || a->type == RNNC_CFG_MAP || b->type == RNNC_CFG_LIST ||
        b->type == RNNC_CFG_MAP || !same_scalar(a, b))
        add(d, path, a, b);
}

static rnnc_status parse(const char *json, const char *what, rnnc_cfg **out)
{
    *out = NULL;
    if (!json)
        return RNNC_OK;
    rnnc_status s = rnnc_spec_read_string(json, strlen(json), what, out);
    return s ? rnnc_fail_context(s, "--resume: reading the %s: ", what) : RNNC_OK;
}

/* "a: checkpoint X, spec Y; b: ... (and N more)" into buf. */
static void list_diffs(const diffs *d, char *buf, size_t cap)
{
    buf[0] = '\0';
    for (int i = 0; i < d->n && i < 3; i++) {
        size_t at = strlen(buf);
        snprintf(buf + at, cap - at, "%s%s: %s", i ? "; " : "", d->path[i], d->line[i]);
    }
    if (d->total > 3) {
        size_t at = strlen(buf);
        snprintf(buf + at, cap - at, " (and %d more)", d->total - 3);
    }
}

static bool starts(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(path, prefix, n) == 0 && (path[n] == '\0' || path[n] == '.' || path[n] == '[');
}

/* What decides the rest of an epoch that a mid-epoch checkpoint is inside of. */
static bool fixes_the_epoch(const char *path)
{
    static const char *const keys[] = {"data", "fit.batch_size", "fit.shuffle", "fit.validation_split",
                                       "fit.validation_data", "fit.seed", "compile.loss", "compile.metrics",
                                       "compile.weighted_metrics", NULL};
    for (int i = 0; keys[i]; i++)
        if (starts(path, keys[i]))
            return true;
    return false;
}

rnnc_status rnnc_resume_check(const rnnc_checkpoint_state *st, const char *ckpt_path, const rnnc_resume_now *now,
                              FILE *out, bool *lr_changed)
{
    rnnc_cfg *cm = NULL, *nm = NULL, *co = NULL, *no = NULL, *cs = NULL, *ns = NULL;
    diffs *d = calloc(1, sizeof *d), *dm = calloc(1, sizeof *dm);
    char list[2000];
    *lr_changed = false;
    rnnc_status s = RNNC_OK;
    if (!d || !dm)
        s = rnnc_fail(RNNC_E_NOMEM, "out of memory");
    if (!s && !(s = parse(st->model_config, "checkpoint's model config", &cm)))
        s = parse(now->model_json, "model config", &nm);
    if (!s && !(s = parse(st->optimizer_config, "checkpoint's optimizer config", &co)))
        s = parse(now->optimizer_json, "optimizer config", &no);
    if (!s && !(s = parse(st->training_spec, "checkpoint's training spec", &cs)))
        s = parse(now->spec_json, "training spec", &ns);
    if (s)
        goto done;

    /* The model must be the same. */
    if (cm && nm)
        diff(cm, nm, "model", NULL, dm);
    if (dm->total > 0) {
        list_diffs(dm, list, sizeof list);
        s = rnnc_fail(RNNC_E_ARG, "--resume: checkpoint '%s' was written for another model (%s); resuming needs the same model: undo the change, or start a new run from its weights with --weights %s",
                      ckpt_path, list, ckpt_path);
        goto done;
    }
    /* The optimizer: the same class, any config. */
    if (co && no) {
        const rnnc_cfg *ca = map_get(co, "class_name"), *na = map_get(no, "class_name");
        if (ca && na && !same_scalar(ca, na)) {
            char va[200], vb[200];
            render(ca, va, sizeof va);
            render(na, vb, sizeof vb);
            s = rnnc_fail(RNNC_E_ARG, "--resume: checkpoint '%s' was trained with the optimizer %s, the spec asks for %s; its state (iterations, slots) cannot carry over to another optimizer: keep %s to resume, or start a new run from its weights with --weights %s",
                          ckpt_path, va, vb, va, ckpt_path);
            goto done;
        }
        static const char *const skip_opt[] = {"compile.optimizer.name", NULL};
        const int before = d->total;
        diff(map_get(co, "config"), map_get(no, "config"), "compile.optimizer", skip_opt, d);
        for (int i = before; i < d->n; i++)
            if (strcmp(d->path[i], "compile.optimizer.learning_rate") == 0)
                *lr_changed = true;
    }
    /* The spec's other sections; model and optimizer were compared above,
     * the seed is compared as used (fit.seed or --seed). */
    if (cs && ns) {
        static const char *const skip_spec[] = {"model", "compile.optimizer", "fit.seed", NULL};
        diff(cs, ns, "", skip_spec, d);
    }
    const rnnc_rng *sh = rnnc_checkpoint_state_rng(st, "shuffle");
    if (sh && sh->seed != now->seed) {
        rnnc_cfg *a = rnnc_cfg_int((int64_t)sh->seed), *b = rnnc_cfg_int((int64_t)now->seed);
        if (a && b)
            add(d, "fit.seed", a, b);
        rnnc_cfg_destroy(a);
        rnnc_cfg_destroy(b);
    }
    if (st->batch > 0) {
        diffs fixed;
        memset(&fixed, 0, sizeof fixed);
        for (int i = 0; i < d->n; i++)
            if (fixes_the_epoch(d->path[i])) {
                fixed.total++;
                if (fixed.n < MAX_DIFFS) {
                    memcpy(fixed.path[fixed.n], d->path[i], sizeof fixed.path[0]);
                    memcpy(fixed.line[fixed.n], d->line[i], sizeof fixed.line[0]);
                    fixed.n++;
                }
            }
        if (fixed.total > 0) {
            list_diffs(&fixed, list, sizeof list);
            s = rnnc_fail(RNNC_E_ARG, "--resume: checkpoint '%s' was written inside epoch %lld (after batch %lld), and the rest of that epoch needs the data, batch size, shuffling, seed, loss and metrics it had (%s); undo the change, or resume from an epoch-end checkpoint",
                          ckpt_path, (long long)st->epoch + 1, (long long)st->batch, list);
            goto done;
        }
    }
    for (int i = 0; i < d->n; i++) {
        const char *eq = strstr(d->line[i], ", spec ");
        const char *used = eq ? eq + strlen(", spec ") : "the spec's";
        fprintf(out, "resume: %s: %s -> using %s\n", d->path[i], d->line[i],
                strcmp(used, "(not set)") == 0 ? "the default" : used);
    }
    if (d->total > d->n)
        fprintf(out, "resume: ... and %d more differences; the spec's values are used\n", d->total - d->n);
done:
    rnnc_cfg_destroy(cm);
    rnnc_cfg_destroy(nm);
    rnnc_cfg_destroy(co);
    rnnc_cfg_destroy(no);
    rnnc_cfg_destroy(cs);
    rnnc_cfg_destroy(ns);
    free(d);
    free(dm);
    return s;
}
