/* keras_archive.c - the members of a .keras zip archive, read into memory
 * through libzip with size bounds. */
#define _POSIX_C_SOURCE 200809L

#include "io/keras_archive.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zip.h>

#define MAX_TEXT_MEMBER ((zip_uint64_t)64 << 20)    /* config.json, metadata.json */
#define MAX_WEIGHTS_MEMBER ((zip_uint64_t)16 << 30) /* model.weights.h5 */

bool rnnc_keras_archive_sniff(const char *path)
{
    unsigned char b[4] = {0};
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return false;
    size_t n = fread(b, 1, 4, fp);
    fclose(fp);
    return n == 4 && b[0] == 'P' && b[1] == 'K' &&
           ((b[2] == 3 && b[3] == 4) || (b[2] == 5 && b[3] == 6));
}

void rnnc_keras_archive_destroy(rnnc_keras_archive *a)
{
    if (!a)
        return;
    free(a->path);
    free(a->config_json);
    free(a->metadata_json);
    free(a->weights);
    free(a);
}

/* Reads member `name` fully into a new buffer (NUL-terminated, +1 byte).
 * *present = false when the archive has no such member. */
static rnnc_status read_member(zip_t *za, const char *path, const char *name, zip_uint64_t max,
                               bool *present, unsigned char **out, size_t *len)
{
    zip_stat_t st;
    *out = NULL;
    *len = 0;
    *present = false;
    zip_int64_t idx = zip_name_locate(za, name, 0);
    if (idx < 0)
        return RNNC_OK;
    *present = true;
    zip_stat_init(&st);
    if (zip_stat_index(za, (zip_uint64_t)idx, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
        return rnnc_fail(RNNC_E_FORMAT, "'%s': member '%s': unreadable entry (%s)", path, name,
                         zip_strerror(za));
    if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE)
        return rnnc_fail(RNNC_E_UNSUPPORTED, "'%s': member '%s' is encrypted", path, name);
    /* Never trust a declared size: bound it by the limit and by what the
     * compressed bytes can expand to (deflate: at most ~1032:1). */
    zip_uint64_t comp = (st.valid & ZIP_STAT_COMP_SIZE) ? st.comp_size : st.size;
    if (st.size > max)
        return rnnc_fail(RNNC_E_FORMAT, "'%s': member '%s' declares %llu bytes (more than the %llu accepted)",
                         path, name, (unsigned long long)st.size, (unsigned long long)max);
    if (st.size > comp * 1100u + (1u << 20))
        return rnnc_fail(RNNC_E_FORMAT, "'%s': member '%s' declares %llu bytes from %llu compressed bytes; the archive is damaged",
                         path, name, (unsigned long long)st.size, (unsigned long long)comp);
    if ((zip_uint64_t)(size_t)st.size != st.size || (size_t)st.size == SIZE_MAX)
        return rnnc_fail(RNNC_E_FORMAT, "'%s': member '%s' is too large", path, name);
    size_t size = (size_t)st.size;
    unsigned char *buf = malloc(size + 1);
    if (!buf)
        return rnnc_fail(RNNC_E_NOMEM, "'%s': out of memory for member '%s' (%zu bytes)", path, name, size);
    zip_file_t *zf = zip_fopen_index(za, (zip_uint64_t)idx, 0);
    if (!zf) {
        free(buf);
        return rnnc_fail(RNNC_E_FORMAT, "'%s': cannot open member '%s': %s", path, name, zip_strerror(za));
    }
    size_t got = 0;
    rnnc_status s = RNNC_OK;
    while (got < size) {
        zip_int64_t r = zip_fread(zf, buf + got, size - got);
        if (r < 0) {
            s = rnnc_fail(RNNC_E_FORMAT, "'%s': reading member '%s' failed: %s", path, name,
                          zip_file_strerror(zf));
            break;
        }
        if (r == 0) {
            s = rnnc_fail(RNNC_E_FORMAT, "'%s': member '%s' ends after %zu of %zu bytes (truncated archive?)",
                          path, name, got, size);
            break;
        }
        got += (size_t)r;
    }
    if (s == RNNC_OK) {
        /* Reading to the end makes libzip check the CRC. */
        unsigned char extra;
        zip_int64_t r = zip_fread(zf, &extra, 1);
        if (r < 0)
            s = rnnc_fail(RNNC_E_FORMAT, "'%s': member '%s' is damaged: %s", path, name, zip_file_strerror(zf));
        else if (r > 0)
            s = rnnc_fail(RNNC_E_FORMAT, "'%s': member '%s' is longer than its declared %zu bytes", path, name, size);
    }
    zip_fclose(zf);
    if (s != RNNC_OK) {
        free(buf);
        return s;
    }
    buf[size] = '\0';
    *out = buf;
    *len = size;
    return RNNC_OK;
}

rnnc_status rnnc_keras_archive_read(const char *path, rnnc_keras_archive **out)
{
    struct stat st;
    *out = NULL;
    if (!path || !path[0])
        return rnnc_fail(RNNC_E_ARG, ".keras archive: no path given");
    if (stat(path, &st) != 0)
        return rnnc_fail(RNNC_E_IO, "'%s': cannot open: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return rnnc_fail(RNNC_E_IO, "'%s' is a directory, not a .keras archive", path);
    if (st.st_size == 0)
        return rnnc_fail(RNNC_E_FORMAT, "'%s' is empty (0 bytes), not a .keras archive", path);
    int err = 0;
    zip_t *za = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &err);
    if (!za) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, err);
        rnnc_status s = rnnc_fail(err == ZIP_ER_OPEN || err == ZIP_ER_READ ? RNNC_E_IO : RNNC_E_FORMAT,
                                  "'%s': not a readable .keras (zip) archive: %s", path,
                                  zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return s;
    }
    rnnc_keras_archive *a = calloc(1, sizeof *a);
    rnnc_status s = RNNC_OK;
    if (!a || !(a->path = malloc(strlen(path) + 1))) {
        s = rnnc_fail(RNNC_E_NOMEM, "out of memory");
        goto done;
    }
    strcpy(a->path, path);
    bool present;
    unsigned char *buf;
    size_t len;
    if ((s = read_member(za, path, "config.json", MAX_TEXT_MEMBER, &present, &buf, &len)) != RNNC_OK)
        goto done;
    if (!present) {
        s = rnnc_fail(RNNC_E_FORMAT, "'%s' has no config.json: not a Keras 3 .keras archive", path);
        goto done;
    }
    a->config_json = (char *)buf;
    a->config_len = len;
    if ((s = read_member(za, path, "metadata.json", MAX_TEXT_MEMBER, &present, &buf, &len)) != RNNC_OK)
        goto done;
    a->metadata_json = (char *)buf;
    a->metadata_len = len;
    if ((s = read_member(za, path, "model.weights.h5", MAX_WEIGHTS_MEMBER, &present, &buf, &len)) != RNNC_OK)
        goto done;
    a->weights = buf;
    a->weights_size = len;
done:
    zip_discard(za); /* read-only: nothing to write back */
    if (s != RNNC_OK) {
        rnnc_keras_archive_destroy(a);
        return s;
    }
    *out = a;
    return RNNC_OK;
}
