/* keras_archive.h - reading `.keras` archives (spec 11.2): a zip file with
 * metadata.json ({"keras_version": ..., "date_saved": ...}), config.json
 * (the serialized model, section 12) and model.weights.h5 (the layout of
 * 11.1). Members may be stored (what Keras writes) or deflated.
 *
 * The archive is hostile input: declared member sizes are bounded (text
 * members by 64 MiB, any member by what its compressed size can expand to),
 * CRCs are checked by libzip, and a member that ends early is an error.
 * The weights are kept in memory and opened as an HDF5 file image
 * (rnnc_h5_open_image), so nothing is extracted to disk.
 *
 * Not here: turning config.json into a model (model_loader.h) and reading
 * the weights (weights_h5.h). Writing .keras archives is not supported. */
#ifndef RNNC_IO_KERAS_ARCHIVE_H
#define RNNC_IO_KERAS_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>

#include "framework/status.h"

typedef struct rnnc_keras_archive {
    char *path;            /* the archive's path, for messages */
    char *config_json;     /* config.json, NUL-terminated */
    size_t config_len;
    char *metadata_json;   /* metadata.json, NUL-terminated, or NULL when absent */
    size_t metadata_len;
    unsigned char *weights; /* model.weights.h5 bytes, or NULL when absent */
    size_t weights_size;
} rnnc_keras_archive;

/* Whether the file at path starts with a zip signature (PK\3\4 or, for an
 * empty archive, PK\5\6). Never fails; false for unreadable files. */
bool rnnc_keras_archive_sniff(const char *path);

/* Reads the archive's members. config.json is required; the others may be
 * absent. Fails with RNNC_E_IO (missing file, directory, unreadable),
 * RNNC_E_FORMAT (not a zip, damaged, truncated, no config.json, absurd
 * sizes) naming the archive and the member. Caller frees with
 * rnnc_keras_archive_destroy. */
rnnc_status rnnc_keras_archive_read(const char *path, rnnc_keras_archive **out);
void rnnc_keras_archive_destroy(rnnc_keras_archive *a); /* NULL is a no-op */

#endif
