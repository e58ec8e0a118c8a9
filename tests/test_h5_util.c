/* test_h5_util.c - io/h5_util.c's group creation, checked with HDF5's own
 * calls (H5Lexists, H5Oget_info) on an in-memory file. */
#include <criterion/criterion.h>
#include <hdf5.h>
#include <string.h>

#include "io/h5_util.h"

static hid_t memory_file(void)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    cr_assert(fapl >= 0);
    cr_assert(H5Pset_fapl_core(fapl, 4096, 0) >= 0);
    hid_t f = H5Fcreate("mem.h5", H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    cr_assert(f >= 0);
    return f;
}

static bool is_group(hid_t loc, const char *path)
{
    if (H5Lexists(loc, path, H5P_DEFAULT) <= 0)
        return false;
    hid_t o = H5Oopen(loc, path, H5P_DEFAULT);
    bool group = o >= 0 && H5Iget_type(o) == H5I_GROUP;
    if (o >= 0)
        H5Oclose(o);
    return group;
}

Test(h5_util, group_create_makes_the_groups_on_the_way)
{
    hid_t f = memory_file(), g, sub;
    cr_assert_eq(rnnc_h5_group_create(f, "layers", "mem.h5", &g), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_h5_group_create(g, "cells/lstm_cell", "mem.h5", &sub), RNNC_OK, "%s", rnnc_last_error());
    cr_assert(is_group(f, "/layers"));
    cr_assert(is_group(f, "/layers/cells"));
    cr_assert(is_group(f, "/layers/cells/lstm_cell"));
    H5Gclose(sub);
    H5Gclose(g);
    H5Fclose(f);
}

Test(h5_util, group_create_failure_names_file_and_full_path)
{
    hid_t f = memory_file(), g, again;
    cr_assert_eq(rnnc_h5_group_create(f, "layers", "mem.h5", &g), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_h5_group_create(g, "vars", "mem.h5", &again), RNNC_OK, "%s", rnnc_last_error());
    H5Gclose(again);
    cr_assert_eq(rnnc_h5_group_create(g, "vars", "mem.h5", &again), RNNC_E_IO);
    cr_assert_lt(again, 0);
    const char *want = "'mem.h5': cannot create group '/layers/vars'";
    cr_assert(strncmp(rnnc_last_error(), want, strlen(want)) == 0, "%s", rnnc_last_error());
    cr_assert(strchr(rnnc_last_error(), '\n') == NULL, "%s", rnnc_last_error());
    H5Gclose(g);
    H5Fclose(f);
}
