/* json_writer.h - a config tree as JSON text, byte for byte as Python's
 * json.dumps(obj) (indent -1) or json.dumps(obj, indent=n) writes it, so
 * that get_config output compares equal to Keras's own text.
 *
 * - separators ", " and ": " on one line; "," and ": " when indented;
 *   empty containers are "[]" and "{}"
 * - keys in insertion order (the tree keeps Keras's order)
 * - strings ASCII-only: \" \\ \n \r \t \b \f, other characters below 0x20,
 *   0x7f and all non-ASCII as \u00e9 (lowercase hex), characters beyond
 *   U+FFFF as a surrogate pair \ud83d\ude00
 * - ints as is; floats as Python's repr(): the shortest text that reads
 *   back to the same double, always with a '.' or an exponent (1.0, 0.001,
 *   1e-07, 1e+16, 1.2345678901234568e+17); NaN, Infinity, -Infinity
 * - true, false, null
 * The text read back by rnnc_spec_read_string gives the same tree. */
#ifndef RNNC_JSON_WRITER_H
#define RNNC_JSON_WRITER_H

#include "framework/config.h"
#include "framework/status.h"

/* Deepest nesting the writer follows (trees read from files stop at 64). */
#define RNNC_JSON_MAX_DEPTH 1000

/* Writes c as JSON into a new NUL-terminated string *out (malloc'd; the
 * caller frees it). indent -1: one line; indent >= 0: that many spaces per
 * level, like json.dumps(indent=n). No trailing newline. Fails with
 * RNNC_E_ARG for a bad indent, a string that is not valid UTF-8 or nesting
 * deeper than RNNC_JSON_MAX_DEPTH; *out is NULL on failure. */
rnnc_status rnnc_json_write(const rnnc_cfg *c, int indent, char **out);

/* Writes the same text to path, atomically: into "<path>.tmp", flushed and
 * fsync'ed, then renamed over path, so path never holds a partial file.
 * Fails with RNNC_E_IO naming the path (the .tmp file is removed). */
rnnc_status rnnc_json_write_file(const rnnc_cfg *c, int indent, const char *path);

#endif
