/* h5_make.h - small HDF5 files for tests, written with the HDF5 C API
 * directly (no rnnc code), so a test can give rnnc exactly the bytes it
 * wants: any on-disk type (odd float formats included), any shape (zero
 * rows included), contiguous or chunked storage.
 *
 * Linked into every test executable (tests/helpers/ is globbed). */
#ifndef RNNC_TEST_H5_MAKE_H
#define RNNC_TEST_H5_MAKE_H

#include <stdbool.h>

#include <hdf5.h>

typedef struct rnnc_h5m_dataset {
    const char *name;   /* "x", or a path like "g/x" whose groups exist */
    hid_t file_type;    /* on-disk type: H5T_IEEE_F32LE, H5T_STD_I32LE, a modified copy... */
    hid_t mem_type;     /* type of data: H5T_NATIVE_FLOAT, H5T_NATIVE_DOUBLE, H5T_NATIVE_INT */
    int ndim;
    hsize_t dims[4];
    const void *data;   /* NULL: nothing written (HDF5's fill value) */
    bool chunked;       /* chunked layout (one chunk per row) instead of contiguous */
} rnnc_h5m_dataset;

/* Creates (truncates) path holding the n datasets. False on any HDF5
 * failure (HDF5 prints why). */
bool rnnc_h5m_write(const char *path, const rnnc_h5m_dataset *ds, int n);

#endif
