/* model_save.c - .keras archives (model_save.h). */
#define _POSIX_C_SOURCE 200809L
#include "io/model_save.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>
#include <zip.h>

#include "io/h5_util.h"
#include "io/json_writer.h"
#include "io/keras_archive.h"
#include "io/spec_reader.h"
#include "io/weights_h5_internal.h"

rnnc_status rnnc_model_save_optimizer_tensors(const rnnc_optimizer *opt, const rnnc_tensor ***out, int *n_out)
{
    *out = NULL;
    *n_out = 0;
    int n = 0;
    if (opt)
        RNNC_TRY(rnnc_optimizer_variables(opt, NULL, 0, &n));
    if (!n)
        return RNNC_OK;
    rnnc_optimizer_variable *vars = calloc((size_t)n, sizeof *vars);
    const rnnc_tensor **t = calloc((size_t)n, sizeof *t);
    rnnc_status s = vars && t ? rnnc_optimizer_variables(opt, vars, n, &n) : rnnc_fail(RNNC_E_NOMEM, "out of memory");
    for (int i = 0; s == RNNC_OK && i < n; i++)
        t[i] = vars[i].value;
    free(vars);
    if (s != RNNC_OK) {
        free(t);
        return s;
    }
    *out = t;
    *n_out = n;
    return RNNC_OK;
}

rnnc_status rnnc_model_read_compile_config(const char *path, rnnc_cfg **out)
{
    *out = NULL;
    rnnc_keras_archive *a = NULL;
    RNNC_TRY(rnnc_keras_archive_read(path, &a));
    rnnc_cfg *root = NULL;
    rnnc_status s = rnnc_spec_read_string(a->config_json, a->config_len, path, &root);
    const rnnc_cfg *cc = s == RNNC_OK ? rnnc_cfg_peek(root, "compile_config") : NULL;
    if (s == RNNC_OK && cc && cc->type != RNNC_CFG_MAP && cc->type != RNNC_CFG_NULL)
        s = rnnc_fail(RNNC_E_FORMAT, "'%s': config.json's compile_config is a %s, not a map", path,
                      rnnc_cfg_type_name(cc->type));
    else if (s == RNNC_OK && cc && cc->type == RNNC_CFG_MAP && !(*out = rnnc_cfg_clone(cc)))
        s = rnnc_fail(RNNC_E_NOMEM, "out of memory");
    rnnc_cfg_destroy(root);
    rnnc_keras_archive_destroy(a);
    return s;
}

/* A model compiled but not trained is saved by Keras with its optimizer
 * unbuilt: optimizer/vars holds only iteration and learning_rate (the
 * variables before the slots). Then *n becomes that count, and the slots
 * keep the fresh values build gave them, as Keras builds them at fit. */
static rnnc_status unbuilt_count(hid_t f, const char *path, const rnnc_optimizer_variable *vars, int *n)
{
    if (!rnnc_h5_exists(f, "optimizer/vars"))
        return RNNC_OK;
    hid_t g = -1;
    size_t count = 0;
    RNNC_TRY(rnnc_h5_group_open(f, "optimizer/vars", path, &g));
    rnnc_status s = rnnc_h5_group_count(g, path, &count);
    H5Oclose(g);
    int base = 0;
    while (base < *n && (strcmp(vars[base].name, "iteration") == 0 || strcmp(vars[base].name, "learning_rate") == 0))
        base++;
    if (s == RNNC_OK && count == (size_t)base && base < *n)
        *n = base;
    return s;
}

rnnc_status rnnc_model_load_optimizer(const char *path, rnnc_model *m, rnnc_optimizer *opt, bool *found)
{
    *found = false;
    rnnc_keras_archive *a = NULL;
    RNNC_TRY(rnnc_keras_archive_read(path, &a));
    rnnc_weight *one[1], **w = NULL;
    rnnc_optimizer_variable *vars = NULL;
    rnnc_tensor **t = NULL;
    int nw = 0, n = 0;
    hid_t f = -1;
    rnnc_status s = RNNC_OK;
    if (!a->weights)
        goto done;
    if (!m->built && m->has_input)
        s = rnnc_model_build(m, &m->input_shape);
    if (s == RNNC_OK && (s = rnnc_model_weights(m, one, 0, &nw)) == RNNC_OK &&
        !(w = calloc(nw ? (size_t)nw : 1, sizeof *w)))
        s = rnnc_fail(RNNC_E_NOMEM, "out of memory");
    if (s == RNNC_OK && (s = rnnc_model_weights(m, w, nw, &nw)) == RNNC_OK && !rnnc_optimizer_built(opt))
        s = rnnc_optimizer_build(opt, w, nw);
    if (s == RNNC_OK && (s = rnnc_optimizer_variables(opt, NULL, 0, &n)) == RNNC_OK &&
        (!(vars = calloc(n ? (size_t)n : 1, sizeof *vars)) || !(t = calloc(n ? (size_t)n : 1, sizeof *t))))
        s = rnnc_fail(RNNC_E_NOMEM, "out of memory");
    if (s == RNNC_OK)
        s = rnnc_optimizer_variables(opt, vars, n, &n);
    for (int i = 0; s == RNNC_OK && i < n; i++)
        t[i] = vars[i].value;
    if (s == RNNC_OK)
        s = rnnc_h5_open_image(a->weights, a->weights_size, path, &f);
    if (s == RNNC_OK)
        s = unbuilt_count(f, path, vars, &n);
    if (s == RNNC_OK)
        s = rnnc_weights_load_optimizer_h5(f, path, t, n, found);
done:
    rnnc_h5_close(f);
    free(t);
    free(vars);
    free(w);
    rnnc_keras_archive_destroy(a);
    return s;
}

/* The model's weights and, with an optimizer, its variables (Keras's order)
 * into an open HDF5 file. */
static rnnc_status save_weights_and_slots(hid_t f, const rnnc_model *m, const char *path, const rnnc_optimizer *opt)
{
    const rnnc_tensor **t = NULL;
    int n = 0;
    RNNC_TRY(rnnc_model_save_optimizer_tensors(opt, &t, &n));
    rnnc_status s = rnnc_weights_save_h5(f, m, path, t, n, n ? rnnc_optimizer_name(opt) : NULL);
    free(t);
    return s;
}

/* Keras 3.15.1's compile_config from what compile() got. */
static rnnc_status compile_config(const rnnc_model_compile_info *ci, const char *path, rnnc_cfg **out)
{
    *out = NULL;
    if (ci->loss && ci->loss->type != RNNC_CFG_STRING && ci->loss->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "'%s': compile loss must be a name or a map, not %s", path,
                         rnnc_cfg_type_name(ci->loss->type));
    if (ci->metrics && ci->metrics->type != RNNC_CFG_LIST)
        return rnnc_fail(RNNC_E_ARG, "'%s': compile metrics must be a list, not %s", path,
                         rnnc_cfg_type_name(ci->metrics->type));
    if (ci->weighted_metrics && ci->weighted_metrics->type != RNNC_CFG_LIST)
        return rnnc_fail(RNNC_E_ARG, "'%s': compile weighted_metrics must be a list, not %s", path,
                         rnnc_cfg_type_name(ci->weighted_metrics->type));
    rnnc_cfg *cc = rnnc_cfg_map(), *oc = NULL;
    if (!cc)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    rnnc_status s = RNNC_OK;
    if (ci->optimizer) {
        s = rnnc_optimizer_serialize(ci->optimizer, &oc);
        if (s == RNNC_OK)
            s = rnnc_cfg_set(cc, "optimizer", oc);
    } else {
        s = rnnc_cfg_set_null(cc, "optimizer");
    }
    /* In Keras's order; loss_weights is always null (rnnc has none). */
    const char *const key[4] = {"loss", "loss_weights", "metrics", "weighted_metrics"};
    const rnnc_cfg *const part[4] = {ci->loss, NULL, ci->metrics, ci->weighted_metrics};
    for (int i = 0; i < 4 && s == RNNC_OK; i++) {
        rnnc_cfg *v = part[i] ? rnnc_cfg_clone(part[i]) : rnnc_cfg_null();
        s = v ? rnnc_cfg_set(cc, key[i], v) : rnnc_fail(RNNC_E_NOMEM, "out of memory");
    }
    if (s == RNNC_OK)
        s = rnnc_cfg_set_bool(cc, "run_eagerly", false);
    if (s == RNNC_OK)
        s = rnnc_cfg_set_int(cc, "steps_per_execution", 1);
    if (s == RNNC_OK)
        s = rnnc_cfg_set_bool(cc, "jit_compile", false);
    if (s != RNNC_OK) {
        rnnc_cfg_destroy(cc);
        return s;
    }
    *out = cc;
    return RNNC_OK;
}

/* The weights as the bytes of an HDF5 file built in memory. */
static rnnc_status weights_image(const rnnc_model *m, const char *path, const rnnc_optimizer *opt, void **buf,
                                 size_t *size)
{
    *buf = NULL;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || H5Pset_fapl_core(fapl, 1 << 16, 0) < 0) {
        if (fapl >= 0)
            H5Pclose(fapl);
        return rnnc_fail(RNNC_E_IO, "'%s': cannot set up an in-memory HDF5 file", path);
    }
    rnnc_h5_quiet q;
    rnnc_h5_quiet_begin(&q);
    hid_t f = H5Fcreate("model.weights.h5", H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    rnnc_status s = f < 0 ? rnnc_fail(RNNC_E_IO, "'%s': cannot create an in-memory HDF5 file", path)
                          : save_weights_and_slots(f, m, path, opt);
    ssize_t n = -1;
    if (s == RNNC_OK && (H5Fflush(f, H5F_SCOPE_GLOBAL) < 0 || (n = H5Fget_file_image(f, NULL, 0)) <= 0))
        s = rnnc_fail(RNNC_E_IO, "'%s': cannot take the weights' HDF5 image", path);
    if (s == RNNC_OK && !(*buf = malloc((size_t)n)))
        s = rnnc_fail(RNNC_E_NOMEM, "'%s': out of memory for %zd bytes of weights", path, n);
    if (s == RNNC_OK && H5Fget_file_image(f, *buf, (size_t)n) != n)
        s = rnnc_fail(RNNC_E_IO, "'%s': cannot copy the weights' HDF5 image", path);
    if (f >= 0)
        H5Fclose(f);
    rnnc_h5_quiet_end(&q);
    if (s != RNNC_OK) {
        free(*buf);
        *buf = NULL;
        return s;
    }
    *size = (size_t)n;
    return RNNC_OK;
}

/* Adds one stored member from a buffer the caller keeps until zip_close. */
static rnnc_status add_member(zip_t *za, const char *path, const char *name, const void *data, size_t len)
{
    zip_source_t *src = zip_source_buffer(za, data, len, 0);
    zip_int64_t idx = src ? zip_file_add(za, name, src, ZIP_FL_ENC_UTF_8) : -1;
    if (idx < 0) {
        zip_source_free(src);
        return rnnc_fail(RNNC_E_IO, "'%s': cannot add member '%s': %s", path, name, zip_strerror(za));
    }
    if (zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0) != 0)
        return rnnc_fail(RNNC_E_IO, "'%s': member '%s': %s", path, name, zip_strerror(za));
    return RNNC_OK;
}

static rnnc_status write_zip(const char *path, const char *tmp, const char *config, const char *metadata,
                             const void *weights, size_t weights_size)
{
    int err = 0;
    zip_t *za = zip_open(tmp, ZIP_CREATE | ZIP_EXCL, &err);
    if (!za) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, err);
        rnnc_status s = rnnc_fail(RNNC_E_IO, "'%s': cannot create the archive: %s", path, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return s;
    }
    rnnc_status s = add_member(za, path, "metadata.json", metadata, strlen(metadata));
    if (s == RNNC_OK)
        s = add_member(za, path, "config.json", config, strlen(config));
    if (s == RNNC_OK)
        s = add_member(za, path, "model.weights.h5", weights, weights_size);
    if (s != RNNC_OK) {
        zip_discard(za);
        return s;
    }
    if (zip_close(za) != 0) {
        s = rnnc_fail(RNNC_E_IO, "'%s': cannot write the archive: %s", path, zip_strerror(za));
        zip_discard(za);
        return s;
    }
    /* On disk before it replaces path (libzip does not fsync). */
    int fd = open(tmp, O_RDONLY);
    if (fd < 0 || fsync(fd) != 0) {
        s = rnnc_fail(RNNC_E_IO, "'%s': cannot flush the archive to disk: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return s;
    }
    close(fd);
    if (rename(tmp, path) != 0)
        return rnnc_fail(RNNC_E_IO, "'%s': cannot rename the finished archive into place: %s", path,
                         strerror(errno));
    return RNNC_OK;
}

rnnc_status rnnc_model_save(const rnnc_model *m, const char *path)
{
    return rnnc_model_save_compiled(m, path, NULL);
}

rnnc_status rnnc_model_save_compiled(const rnnc_model *m, const char *path, const rnnc_model_compile_info *ci)
{
    if (!m || !path || !*path)
        return rnnc_fail(RNNC_E_ARG, "rnnc_model_save: needs a model and a path");
    if (!m->built)
        return rnnc_fail(RNNC_E_STATE, "'%s': model '%s' is not built: build it (or fit it) before saving", path,
                         m->name);
    rnnc_cfg *cfg = NULL;
    char *config = NULL, *tmp = NULL;
    void *weights = NULL;
    size_t weights_size = 0;
    rnnc_status s = rnnc_model_serialize(m, &cfg);
    if (s == RNNC_OK && ci) {
        rnnc_cfg *cc = NULL;
        s = compile_config(ci, path, &cc);
        if (s == RNNC_OK)
            s = rnnc_cfg_set(cfg, "compile_config", cc);
    }
    if (s == RNNC_OK)
        s = rnnc_json_write(cfg, 0, &config);
    rnnc_cfg_destroy(cfg);
    if (s == RNNC_OK)
        s = weights_image(m, path, ci ? ci->optimizer : NULL, &weights, &weights_size);
    char metadata[160], date[32] = "";
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm))
        strftime(date, sizeof date, "%Y-%m-%d@%H:%M:%S", &tm);
    snprintf(metadata, sizeof metadata, "{\"keras_version\": \"3.15.1\", \"date_saved\": \"%s\"}", date);
    /* "<path>.tmp.<pid>.<n>" as the HDF5 writers name theirs (io/h5_util.h),
     * so the next write of path removes what a killed one left. */
    static unsigned counter;
    size_t tlen = strlen(path) + 64;
    if (s == RNNC_OK && !(tmp = malloc(tlen)))
        s = rnnc_fail(RNNC_E_NOMEM, "out of memory");
    if (s == RNNC_OK) {
        rnnc_h5_clean_stale_tmp(path, "tmp");
        snprintf(tmp, tlen, "%s.tmp.%ld.%u", path, (long)getpid(), counter++);
        s = write_zip(path, tmp, config, metadata, weights, weights_size);
        if (s != RNNC_OK)
            unlink(tmp);
    }
    free(tmp);
    free(config);
    free(weights);
    return s;
}
