/* h5_heap_check_internal.h - the global heap check that io/h5_util.c runs
 * before HDF5 reads an attribute's variable-length strings (see
 * h5_heap_check.c for why HDF5 cannot be trusted with them). Not
 * installed. */
#ifndef RNNC_IO_H5_HEAP_CHECK_INTERNAL_H
#define RNNC_IO_H5_HEAP_CHECK_INTERNAL_H

#include <hdf5.h>

#include "framework/status.h"

/* Follows each heap ID of attribute `name` of attr_obj (count strings)
 * into the collection it names, as HDF5 will: RNNC_E_FORMAT naming `file`
 * where a collection is damaged or does not hold the string with its
 * length; RNNC_OK otherwise (also when the file's bytes cannot be reached,
 * e.g. a file open for writing). */
rnnc_status rnnc__h5_heap_refs_check(hid_t attr_obj, const char *name, hssize_t count, const char *file);

#endif
