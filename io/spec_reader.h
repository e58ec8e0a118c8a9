/* spec_reader.h - reads a YAML model spec (or Keras's JSON, which is valid
 * YAML) into a config tree.
 *
 * Scalars are typed like the YAML 1.2 core schema / JSON:
 *   null, Null, NULL, ~, empty      -> null
 *   true/True/TRUE, false/...       -> bool
 *   123, -7, +4, 0x1f, 0o17         -> integer (int64; overflow is an error)
 *   1.5, 1e-07, .5, .inf, -.inf, .nan -> float
 *   NaN, Infinity, -Infinity        -> float (what Python's json.dumps writes)
 *   anything quoted, block scalars  -> string
 * Tags !!str, !!int, !!float, !!bool and !!null force a type.
 *
 * Anchors and aliases work (an alias is a copy of the anchored node), as does
 * the merge key `<<: *defaults` (keys written in the mapping win; the merged
 * keys that are not written there follow them, earlier sources first). Both
 * are bounded so that a hostile file cannot blow up: see the limits below.
 *
 * Every node carries file, line and column (1-based, columns in characters).
 * The root owns the file name (file_owned); every node points at it, so
 * they are valid as long as the tree lives.
 *
 * Errors are RNNC_E_FORMAT ("spec.yaml:3:7: duplicate key 'units' ..."),
 * RNNC_E_IO (missing file, a directory, unreadable, too large) or
 * RNNC_E_NOMEM, with the details in rnnc_last_error(). */
#ifndef RNNC_SPEC_READER_H
#define RNNC_SPEC_READER_H

#include <stddef.h>

#include "framework/config.h"
#include "framework/status.h"

/* Deepest nesting of mappings and sequences, aliases included. */
#define RNNC_SPEC_MAX_DEPTH 64
/* Most alias references (*name) in one document. */
#define RNNC_SPEC_MAX_ALIASES 1000
/* Most nodes that aliases and merge keys may copy, in total. */
#define RNNC_SPEC_MAX_EXPANDED 1000000
/* Most anchors (&name) in one document. */
#define RNNC_SPEC_MAX_ANCHORS 10000
/* Longest mapping key, in bytes (keys hold no control characters). */
#define RNNC_SPEC_MAX_KEY_BYTES 256
/* Largest file rnnc_spec_read_file accepts, in bytes. */
#define RNNC_SPEC_MAX_FILE_BYTES (64u * 1024u * 1024u)

/* Reads the file at path into a new tree (*out; free with
 * rnnc_cfg_destroy). *out is NULL on failure. Messages name the path. */
rnnc_status rnnc_spec_read_file(const char *path, rnnc_cfg **out);

/* Same for len bytes of text (need not be NUL-terminated). Messages name
 * name_for_messages ("<string>" when NULL). */
rnnc_status rnnc_spec_read_string(const char *text, size_t len, const char *name_for_messages,
                                  rnnc_cfg **out);

#endif
