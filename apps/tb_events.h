/* tb_events.h - TensorBoard event files: the records TensorFlow's summary
 * writer produces, readable by TensorBoard (and its EventAccumulator).
 *
 * A file "events.out.tfevents.<seconds>.<host>.<pid>.<n>.v2" in a folder
 * holds TFRecords: length (uint64, little-endian), masked CRC-32C of the
 * length, an Event protocol buffer (apps/proto/tb_event.proto, TensorFlow's
 * field numbers, encoded with protobuf-c), masked CRC-32C of the data. The
 * first event is file_version "brain.Event:2"; then one event per value:
 * scalars (Summary.Value.simple_value), histograms (HistogramProto, 30
 * equal-width buckets over [min, max]) and text tensors with a plugin name
 * (Keras's "keras" model config summary). Each event is flushed.
 *
 * Built only with protobuf-c (RNNC_HAVE_PROTOBUF_C); without it opening a
 * writer fails saying so. */
#ifndef RNNC_APPS_TB_EVENTS_H
#define RNNC_APPS_TB_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "framework/status.h"

typedef struct rnnc_tb_writer rnnc_tb_writer;

/* Creates dir (and parents) and a new event file in it. */
rnnc_status rnnc_tb_writer_open(const char *dir, rnnc_tb_writer **out);
rnnc_status rnnc_tb_scalar(rnnc_tb_writer *w, const char *tag, int64_t step, double value);
rnnc_status rnnc_tb_histogram(rnnc_tb_writer *w, const char *tag, int64_t step, const float *v, size_t n);
/* A string tensor (DT_STRING, shape []) with SummaryMetadata plugin_name and content. */
rnnc_status rnnc_tb_text(rnnc_tb_writer *w, const char *tag, int64_t step, const char *plugin, const char *content,
                         const char *text);
/* The event file's path (for messages). */
const char *rnnc_tb_writer_path(const rnnc_tb_writer *w);
/* Closes; fails when the last writes failed. NULL is a no-op. */
rnnc_status rnnc_tb_writer_close(rnnc_tb_writer *w);

/* CRC-32C (Castagnoli) of n bytes, and TFRecord's mask of it. */
uint32_t rnnc_crc32c(const void *data, size_t n);
uint32_t rnnc_tfrecord_mask(uint32_t crc);

#endif
