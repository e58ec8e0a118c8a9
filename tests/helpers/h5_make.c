/* h5_make.c - see h5_make.h. */
#include "helpers/h5_make.h"

bool rnnc_h5m_write(const char *path, const rnnc_h5m_dataset *ds, int n)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0)
        return false;
    bool ok = true;
    for (int i = 0; i < n && ok; i++) {
        const rnnc_h5m_dataset *d = &ds[i];
        hid_t space = H5Screate_simple(d->ndim, d->dims, NULL);
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        if (d->chunked && d->ndim > 0) {
            hsize_t chunk[4];
            for (int k = 0; k < d->ndim; k++)
                chunk[k] = k == 0 || d->dims[k] == 0 ? 1 : d->dims[k];
            H5Pset_chunk(dcpl, d->ndim, chunk);
        }
        hid_t set = space >= 0 && dcpl >= 0
                        ? H5Dcreate2(f, d->name, d->file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT)
                        : -1;
        ok = set >= 0;
        if (ok && d->data)
            ok = H5Dwrite(set, d->mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, d->data) >= 0;
        if (set >= 0)
            ok = H5Dclose(set) >= 0 && ok;
        if (dcpl >= 0)
            H5Pclose(dcpl);
        if (space >= 0)
            H5Sclose(space);
    }
    return H5Fclose(f) >= 0 && ok;
}
